// Colluding parties: every bad party sends the same vector, -scale x the bad
// parties' mean honest update (a party acting alone uses its own update).
// With one bad party this is sign flipping.
#include "corruptions.h"

namespace loom::fl {

namespace {

class Colluding : public Corruption {
 public:
  explicit Colluding(double scale) : scale_(scale) {}
  at::Tensor update(const at::Tensor& u, const at::Tensor& bad_mean, at::Generator&) const override {
    return -scale_ * (bad_mean.defined() ? bad_mean : u);
  }

 private:
  double scale_;
};

}  // namespace

void register_colluding(Registry<CorruptionEntry>& r) {
  register_scaled_corruption<Colluding>(r, "colluding",
                                        "all bad parties send -corruption_scale x the bad parties' mean update");
}

}  // namespace loom::fl
