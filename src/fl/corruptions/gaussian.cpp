// Model poisoning: N(0, (scale · ‖u‖/√d)²) noise instead of the update, so the
// noise has `scale` times the honest update's per-coordinate size.
#include <algorithm>
#include <cmath>

#include "corruptions.h"

namespace loom::fl {

namespace {

class Gaussian : public Corruption {
 public:
  explicit Gaussian(double scale) : scale_(scale) {}
  at::Tensor update(const at::Tensor& u, const at::Tensor&, at::Generator& generator) const override {
    const double rms = u.norm().item<double>() / std::sqrt(static_cast<double>(std::max<int64_t>(1, u.numel())));
    return torch::randn(u.sizes(), generator) * (scale_ * rms);
  }

 private:
  double scale_;
};

}  // namespace

void register_gaussian(Registry<CorruptionEntry>& r) {
  register_scaled_corruption<Gaussian>(r, "gaussian",
                                       "sends N(0, (corruption_scale * |u|/sqrt(d))^2) noise instead of its update");
}

}  // namespace loom::fl
