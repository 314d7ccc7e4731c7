#include "loom/moe/register.h"

#include <mutex>

#include "loom/knowledge/strategy.h"
#include "loom/models/llama/llama_config.h"
#include "loom/models/model_registry.h"
#include "loom/moe/moe_model.h"
#include "strategy_moe_mix.h"

namespace loom {

void register_moe() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Both families hold a whole Llama stem and at least one MLP's worth of
    // experts, so the dense model of the same config is a lower bound of
    // their size: enough to refuse a tiny config.json that describes a huge
    // model before anything is allocated.
    auto dense_lower_bound = [](const nlohmann::json& config, const std::string& origin) {
      nlohmann::json llama = config;
      llama["model_type"] = "llama";
      const LlamaConfig c = LlamaConfig::from_json(llama, origin);
      return ModelSize{c.num_parameters(), c.num_rope_values()};
    };
    model_families().add("mixtral",
                         {"Mixtral-layout mixture of experts (whole-MLP experts, softmax top-k router per layer)",
                          {"MixtralForCausalLM"},
                          [](const nlohmann::json& config, const std::string& origin) -> CausalLM {
                            return mixtral_from_config(config, origin).ptr();
                          },
                          dense_lower_bound});
    model_families().add("loom_moe", {"loom's mixture of experts (projection or adapter experts, gate-less, always-on, "
                                      "global or deep routers, some layers only; config.json's \"moe\" object)",
                                      {"LoomMoeForCausalLM"},
                                      [](const nlohmann::json& config, const std::string& origin) -> CausalLM {
                                        return loom_moe_from_config(config, origin).ptr();
                                      },
                                      dense_lower_bound});
    register_moe_mix_strategy(strategies());
  });
}

}  // namespace loom
