// The corruption registry; each corruption is a file under corruptions/.
#include "loom/fl/corruption.h"

#include <set>

#include "corruptions/corruptions.h"

namespace loom::fl {

namespace {

// The one place the built-in corruptions are listed.
void register_all_corruptions(Registry<CorruptionEntry>& r) {
  register_none(r);
  register_label_flip(r);
  register_random_labels(r);
  register_gaussian(r);
  register_sign_flip(r);
  register_scaled(r);
  register_free_rider(r);
  register_colluding(r);
}

}  // namespace

Registry<CorruptionEntry>& corruptions() {
  static Registry<CorruptionEntry> registry("corruption", register_all_corruptions);
  return registry;
}

std::vector<ParamSpec> corruption_param_specs() {
  std::vector<ParamSpec> out;
  std::set<std::string> seen;
  for (const auto& [name, entry] : corruptions().entries())
    for (const auto& spec : entry.params)
      if (seen.insert(spec.name).second) out.push_back(spec);
  return out;
}

std::unique_ptr<Corruption> make_corruption(const std::string& name, const Params& params, const std::string& origin) {
  return corruptions().get(name, origin).make(params);
}

std::unique_ptr<Corruption> make_corruption(const std::string& name) {
  const CorruptionEntry& entry = corruptions().get(name);
  return entry.make(Params(entry.params));
}

const ParamSchema<CorruptionScale>& corruption_scale_schema() {
  static const ParamSchema<CorruptionScale> schema = [] {
    ParamSchema<CorruptionScale> s;
    s.add("corruption_scale", &CorruptionScale::scale,
          "gaussian: noise std as a multiple of ‖u‖/√d; sign_flip, scaled, colluding: factor", {0, 1e30});
    return s;
  }();
  return schema;
}

}  // namespace loom::fl
