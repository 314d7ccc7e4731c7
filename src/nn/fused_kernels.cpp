#include "loom/nn/fused_kernels.h"

#include <cmath>
#include <cstring>
#include <limits>

// Each float loop is compiled three times and the best one for the CPU is
// chosen when the library loads (GCC function multi-versioning). The double
// versions exist for the finite-difference tests and are not tuned.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LOOM_KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LOOM_KERNEL_CLONES
#endif
#define LOOM_INLINE inline __attribute__((always_inline))

namespace loom::kernels {
namespace {

// exp(x) = 2^n e^r with n = round(x / ln 2) and |r| <= ln 2 / 2, e^r from
// Cephes' degree-6 polynomial (within 2 ulp of std::exp). Branch-free, so the
// compiler vectorises the loops that call it; NaN stays NaN. Inputs are
// clamped to [-87.3, 88]: below, the result is ~FLT_MIN instead of a
// denormal or zero, which no caller here can tell apart from zero in a sum.
LOOM_INLINE float exp_poly(float x) {
  x = x < -87.33654f ? -87.33654f : x;
  x = x > 88.0f ? 88.0f : x;
  // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits.
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

LOOM_INLINE double exp_poly(double x) { return std::exp(x); }

template <typename T>
LOOM_INLINE T sigmoid(T x) {
  return T(1) / (T(1) + exp_poly(-x));
}

template <typename T>
LOOM_INLINE void silu_mul_loop(const T* __restrict gate, const T* __restrict up, T* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

template <typename T>
LOOM_INLINE void silu_mul_backward_loop(const T* __restrict gate, const T* __restrict up, const T* __restrict dout,
                                        T* __restrict dgate, T* __restrict dup, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = gate[i], s = sigmoid(g);
    dup[i] = dout[i] * g * s;
    // silu'(g) = s (1 + g (1 - s))
    dgate[i] = dout[i] * up[i] * s * (T(1) + g * (T(1) - s));
  }
}

template <typename T>
LOOM_INLINE void rope_loop(const T* __restrict x, const T* __restrict cos, const T* __restrict sin, T* __restrict out,
                           int64_t rows, int64_t heads, int64_t dim, bool transpose) {
  const int64_t half = dim / 2;
  // The transposed rotation swaps the signs of the sine terms and takes the
  // partner's sine: dx[j] = dy[j] cos[j] + dy[j+h] sin[j+h], and so on.
  for (int64_t r = 0; r < rows; ++r) {
    const T* c = cos + r * dim;
    const T* s = sin + r * dim;
    for (int64_t h = 0; h < heads; ++h) {
      const T* xi = x + (r * heads + h) * dim;
      T* o = out + (r * heads + h) * dim;
      if (!transpose) {
        for (int64_t j = 0; j < half; ++j) {
          o[j] = xi[j] * c[j] - xi[j + half] * s[j];
          o[j + half] = xi[j + half] * c[j + half] + xi[j] * s[j + half];
        }
      } else {
        for (int64_t j = 0; j < half; ++j) {
          o[j] = xi[j] * c[j] + xi[j + half] * s[j + half];
          o[j + half] = xi[j + half] * c[j + half] - xi[j] * s[j];
        }
      }
    }
  }
}

// Per-lane accumulators, so that the reductions vectorise without asking the
// compiler to reorder float additions (no -ffast-math).
constexpr int64_t kLanes = 16;

template <typename T>
LOOM_INLINE T row_max(const T* __restrict row, int64_t n) {
  T lane[kLanes];
  for (auto& l : lane) l = -std::numeric_limits<T>::infinity();
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) lane[k] = row[j + k] > lane[k] ? row[j + k] : lane[k];
  T m = -std::numeric_limits<T>::infinity();
  for (; j < n; ++j) m = row[j] > m ? row[j] : m;
  for (T l : lane) m = l > m ? l : m;
  return m;
}

// Σ exp(row - m).
template <typename T>
LOOM_INLINE T sum_exp(const T* __restrict row, T m, int64_t n) {
  T lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) lane[k] += exp_poly(row[j + k] - m);
  T sum = 0;
  for (; j < n; ++j) sum += exp_poly(row[j] - m);
  for (T l : lane) sum += l;
  return sum;
}

// row = exp(row - m) in place; returns the sum.
template <typename T>
LOOM_INLINE T exp_in_place_sum(T* row, T m, int64_t n) {
  T lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) {
      row[j + k] = exp_poly(row[j + k] - m);
      lane[k] += row[j + k];
    }
  T sum = 0;
  for (; j < n; ++j) {
    row[j] = exp_poly(row[j] - m);
    sum += row[j];
  }
  for (T l : lane) sum += l;
  return sum;
}

template <typename T>
LOOM_INLINE double softmax_xent_loop(T* logits, const int64_t* __restrict labels, int64_t rows, int64_t vocab) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    T* row = logits + r * vocab;
    const T target = row[labels[r]];
    const T m = row_max(row, vocab);
    const T sum = exp_in_place_sum(row, m, vocab);
    total += static_cast<double>(m) + std::log(static_cast<double>(sum)) - static_cast<double>(target);
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < vocab; ++j) row[j] *= inv;
    row[labels[r]] -= T(1);
  }
  return total;
}

template <typename T>
LOOM_INLINE double xent_loop(const T* __restrict logits, const int64_t* __restrict labels, int64_t rows,
                             int64_t vocab) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = logits + r * vocab;
    const T m = row_max(row, vocab);
    const T sum = sum_exp(row, m, vocab);
    total += static_cast<double>(m) + std::log(static_cast<double>(sum)) - static_cast<double>(row[labels[r]]);
  }
  return total;
}

LOOM_KERNEL_CLONES void silu_mul_f32(const float* __restrict gate, const float* __restrict up, float* __restrict out,
                                     int64_t n) {
  silu_mul_loop(gate, up, out, n);
}
LOOM_KERNEL_CLONES void silu_mul_backward_f32(const float* __restrict gate, const float* __restrict up,
                                              const float* __restrict dout, float* __restrict dgate,
                                              float* __restrict dup, int64_t n) {
  silu_mul_backward_loop(gate, up, dout, dgate, dup, n);
}
LOOM_KERNEL_CLONES void rope_f32(const float* __restrict x, const float* __restrict cos, const float* __restrict sin,
                                 float* __restrict out, int64_t rows, int64_t heads, int64_t dim, bool transpose) {
  rope_loop(x, cos, sin, out, rows, heads, dim, transpose);
}
LOOM_KERNEL_CLONES double softmax_xent_f32(float* logits, const int64_t* __restrict labels, int64_t rows,
                                           int64_t vocab) {
  return softmax_xent_loop(logits, labels, rows, vocab);
}
LOOM_KERNEL_CLONES double xent_f32(const float* __restrict logits, const int64_t* __restrict labels, int64_t rows,
                                   int64_t vocab) {
  return xent_loop(logits, labels, rows, vocab);
}

}  // namespace

template <>
void silu_mul<float>(const float* __restrict gate, const float* __restrict up, float* __restrict out, int64_t n) {
  silu_mul_f32(gate, up, out, n);
}
template <>
void silu_mul<double>(const double* __restrict gate, const double* __restrict up, double* __restrict out, int64_t n) {
  silu_mul_loop(gate, up, out, n);
}
template <>
void silu_mul_backward<float>(const float* __restrict gate, const float* __restrict up, const float* __restrict dout,
                              float* __restrict dgate, float* __restrict dup, int64_t n) {
  silu_mul_backward_f32(gate, up, dout, dgate, dup, n);
}
template <>
void silu_mul_backward<double>(const double* __restrict gate, const double* __restrict up,
                               const double* __restrict dout, double* __restrict dgate, double* __restrict dup,
                               int64_t n) {
  silu_mul_backward_loop(gate, up, dout, dgate, dup, n);
}
template <>
void rope_rotate<float>(const float* __restrict x, const float* __restrict cos, const float* __restrict sin,
                        float* __restrict out, int64_t rows, int64_t heads, int64_t dim, bool transpose) {
  rope_f32(x, cos, sin, out, rows, heads, dim, transpose);
}
template <>
void rope_rotate<double>(const double* __restrict x, const double* __restrict cos, const double* __restrict sin,
                         double* __restrict out, int64_t rows, int64_t heads, int64_t dim, bool transpose) {
  rope_loop(x, cos, sin, out, rows, heads, dim, transpose);
}
template <>
double softmax_cross_entropy_rows<float>(float* logits, const int64_t* __restrict labels, int64_t rows, int64_t vocab) {
  return softmax_xent_f32(logits, labels, rows, vocab);
}
template <>
double softmax_cross_entropy_rows<double>(double* logits, const int64_t* __restrict labels, int64_t rows,
                                          int64_t vocab) {
  return softmax_xent_loop(logits, labels, rows, vocab);
}
template <>
double cross_entropy_rows<float>(const float* __restrict logits, const int64_t* __restrict labels, int64_t rows,
                                 int64_t vocab) {
  return xent_f32(logits, labels, rows, vocab);
}
template <>
double cross_entropy_rows<double>(const double* __restrict logits, const int64_t* __restrict labels, int64_t rows,
                                  int64_t vocab) {
  return xent_loop(logits, labels, rows, vocab);
}

LOOM_KERNEL_CLONES void adamw_update(float* __restrict param, const float* __restrict grad, float* __restrict exp_avg,
                                     float* __restrict exp_avg_sq, int64_t n, const AdamWScalars& s) {
  const float decay = s.decay, b1 = s.beta1, c1 = s.one_minus_beta1, b2 = s.beta2, c2 = s.one_minus_beta2,
              bc2 = s.sqrt_bias_correction2, eps = s.eps, step = s.step_size;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float m = exp_avg[i] * b1 + g * c1;
    const float v = exp_avg_sq[i] * b2 + c2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = param[i] * decay - step * (m / (std::sqrt(v) / bc2 + eps));
  }
}

}  // namespace loom::kernels
