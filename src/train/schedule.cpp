#include "loom/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace loom {

double warmup_cosine_lr(int64_t step, int64_t max_steps, int64_t warmup_steps, double peak_lr, double min_lr_ratio) {
  // `step` counts from 0; the first update already gets a non-zero rate.
  if (warmup_steps > 0 && step < warmup_steps)
    return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const double span = std::max<int64_t>(1, max_steps - warmup_steps);
  const double progress = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return peak_lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine);
}

}  // namespace loom
