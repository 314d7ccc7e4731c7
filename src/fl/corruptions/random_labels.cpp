// Data poisoning: a bad party trains on uniformly random labels.
#include "corruptions.h"

namespace loom::fl {

namespace {

class RandomLabels : public Corruption {
 public:
  at::Tensor labels(const at::Tensor& honest, at::Generator& generator) const override {
    return torch::randint(0, 10, honest.sizes(), generator, torch::kLong);
  }
};

}  // namespace

void register_random_labels(Registry<CorruptionEntry>& r) {
  r.add("random_labels", {"trains on uniformly random labels", {}, [](const Params&) {
                            return std::unique_ptr<Corruption>(std::make_unique<RandomLabels>());
                          }});
}

}  // namespace loom::fl
