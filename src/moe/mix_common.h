// What mix.cpp and blend.cpp share (private to the moe module).
#pragma once
#include <cstdint>
#include <string>

#include "loom/moe/moe_config.h"

namespace loom {

// A MoeConfig with the router settings both `loom moe mix` and `blend` take;
// unknown router types and normalisations are errors listing the valid ones.
MoeConfig routed_config(int64_t experts, int64_t top_k, bool gateless, bool global, const std::string& router,
                        int64_t router_hidden, const std::string& normalization, double aux);

}  // namespace loom
