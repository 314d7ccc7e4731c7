// Learning-rate schedule: linear warmup to the peak, then cosine decay to
// min_lr_ratio * peak at max_steps.
#pragma once
#include <cstdint>

namespace loom {

double warmup_cosine_lr(int64_t step, int64_t max_steps, int64_t warmup_steps, double peak_lr, double min_lr_ratio);

}  // namespace loom
