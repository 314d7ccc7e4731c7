// A free rider: sends a zero update but claims its full sample count.
#include "corruptions.h"

namespace loom::fl {

namespace {

class FreeRider : public Corruption {
 public:
  at::Tensor update(const at::Tensor& u, const at::Tensor&, at::Generator&) const override {
    return torch::zeros_like(u);
  }
};

}  // namespace

void register_free_rider(Registry<CorruptionEntry>& r) {
  r.add("free_rider", {"sends a zero update but claims its sample count", {}, [](const Params&) {
                         return std::unique_ptr<Corruption>(std::make_unique<FreeRider>());
                       }});
}

}  // namespace loom::fl
