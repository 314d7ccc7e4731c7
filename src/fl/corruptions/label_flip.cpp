// Data poisoning: a bad party trains on labels y -> 9 - y.
#include "corruptions.h"

namespace loom::fl {

namespace {

class LabelFlip : public Corruption {
 public:
  at::Tensor labels(const at::Tensor& honest, at::Generator&) const override { return 9 - honest; }
};

}  // namespace

void register_label_flip(Registry<CorruptionEntry>& r) {
  r.add("label_flip", {"trains on labels y -> 9 - y", {}, [](const Params&) {
                         return std::unique_ptr<Corruption>(std::make_unique<LabelFlip>());
                       }});
}

}  // namespace loom::fl
