// The built-in corruptions' registration functions (one file each in this
// folder) and what they share; register_all_corruptions()
// (src/fl/corruption.cpp) calls each.
#pragma once
#include <torch/torch.h>

#include "loom/core/param_schema.h"
#include "loom/fl/corruption.h"

namespace loom::fl {

void register_none(Registry<CorruptionEntry>& registry);
void register_label_flip(Registry<CorruptionEntry>& registry);
void register_random_labels(Registry<CorruptionEntry>& registry);
void register_gaussian(Registry<CorruptionEntry>& registry);
void register_sign_flip(Registry<CorruptionEntry>& registry);
void register_scaled(Registry<CorruptionEntry>& registry);
void register_free_rider(Registry<CorruptionEntry>& registry);
void register_colluding(Registry<CorruptionEntry>& registry);

// The strength of the model-poisoning corruptions (one declaration, shared by
// gaussian, sign_flip, scaled and colluding).
struct CorruptionScale {
  double scale = 3.0;
};
const ParamSchema<CorruptionScale>& corruption_scale_schema();

// Registers a corruption whose only parameter is corruption_scale.
template <typename C>
void register_scaled_corruption(Registry<CorruptionEntry>& r, const std::string& name, const std::string& help) {
  r.add(name, {help, corruption_scale_schema().specs(), [](const Params& p) {
                 return std::unique_ptr<Corruption>(std::make_unique<C>(corruption_scale_schema().read(p).scale));
               }});
}

}  // namespace loom::fl
