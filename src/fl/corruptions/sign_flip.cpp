// Model poisoning: -scale · u, the update pointed the wrong way.
#include "corruptions.h"

namespace loom::fl {

namespace {

class SignFlip : public Corruption {
 public:
  explicit SignFlip(double scale) : scale_(scale) {}
  at::Tensor update(const at::Tensor& u, const at::Tensor&, at::Generator&) const override { return -scale_ * u; }

 private:
  double scale_;
};

}  // namespace

void register_sign_flip(Registry<CorruptionEntry>& r) {
  register_scaled_corruption<SignFlip>(r, "sign_flip", "sends -corruption_scale * u");
}

}  // namespace loom::fl
