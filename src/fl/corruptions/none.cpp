// No corruption: every party is honest (the clean reference run).
#include "corruptions.h"

namespace loom::fl {

namespace {

class NoCorruption : public Corruption {
 public:
  bool makes_parties_bad() const override { return false; }
};

}  // namespace

void register_none(Registry<CorruptionEntry>& r) {
  r.add("none", {"every party is honest", {}, [](const Params&) {
                   return std::unique_ptr<Corruption>(std::make_unique<NoCorruption>());
                 }});
}

}  // namespace loom::fl
