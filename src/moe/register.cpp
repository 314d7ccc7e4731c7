#include "loom/moe/register.h"

#include <mutex>

#include "loom/knowledge/strategy.h"
#include "loom/models/model_registry.h"
#include "loom/moe/moe_model.h"
#include "strategy_moe_mix.h"

namespace loom {

void register_moe() {
  static std::once_flag once;
  std::call_once(once, [] {
    model_families().add("mixtral",
                         {"Mixtral-layout mixture of experts (whole-MLP experts, softmax top-k router per layer)",
                          {"MixtralForCausalLM"},
                          [](const nlohmann::json& config, const std::string& origin) -> CausalLM {
                            return mixtral_from_config(config, origin).ptr();
                          }});
    model_families().add("loom_moe", {"loom's mixture of experts (projection or adapter experts, gate-less, always-on, "
                                      "global or deep routers, some layers only; config.json's \"moe\" object)",
                                      {"LoomMoeForCausalLM"},
                                      [](const nlohmann::json& config, const std::string& origin) -> CausalLM {
                                        return loom_moe_from_config(config, origin).ptr();
                                      }});
    register_moe_mix_strategy(strategies());
  });
}

}  // namespace loom
