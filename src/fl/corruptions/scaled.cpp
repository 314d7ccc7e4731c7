// Model poisoning: scale · u, an honest direction at an outsized step.
#include "corruptions.h"

namespace loom::fl {

namespace {

class Scaled : public Corruption {
 public:
  explicit Scaled(double scale) : scale_(scale) {}
  at::Tensor update(const at::Tensor& u, const at::Tensor&, at::Generator&) const override { return scale_ * u; }

 private:
  double scale_;
};

}  // namespace

void register_scaled(Registry<CorruptionEntry>& r) {
  register_scaled_corruption<Scaled>(r, "scaled", "sends corruption_scale * u");
}

}  // namespace loom::fl
