#include "loom/moe/moe_config.h"

#include <algorithm>
#include <set>

#include "loom/core/error.h"

namespace loom {

const EnumNames<GateNormalization>& gate_normalization_names() {
  static const EnumNames<GateNormalization> names = {{GateNormalization::Softmax, "softmax"},
                                                     {GateNormalization::Sigmoid, "sigmoid"},
                                                     {GateNormalization::Sum, "sum"}};
  return names;
}

GateNormalization gate_normalization_from_name(const std::string& name, const std::string& origin) {
  std::string valid;
  for (const auto& [value, text] : gate_normalization_names()) {
    if (text == name) return value;
    valid += (valid.empty() ? "" : ", ") + text;
  }
  throw Error(origin + ": unknown gate normalization '" + name + "'; valid: " + valid);
}

const char* gate_normalization_name(GateNormalization normalization) {
  for (const auto& [value, text] : gate_normalization_names())
    if (value == normalization) return text.c_str();
  return "?";
}

const std::vector<std::string>& mixable_modules() {
  static const std::vector<std::string> names = {"mlp",       "q_proj",  "k_proj",   "v_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
  return names;
}

bool is_attention_projection(const std::string& module) {
  return module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
}

int64_t MoeConfig::active_experts() const {
  if (dense()) return num_experts;
  return top_k + (always_on ? 1 : 0);
}

bool MoeConfig::mixes_layer(int64_t layer) const {
  return layers.empty() || std::find(layers.begin(), layers.end(), layer) != layers.end();
}

bool MoeConfig::mixes(const std::string& module) const {
  return std::find(modules.begin(), modules.end(), module) != modules.end();
}

bool MoeConfig::fits_mixtral() const {
  return !adapters && modules == std::vector<std::string>{"mlp"} && layers.empty() && !gateless && !always_on &&
         !global_router && router == "linear" && normalization == GateNormalization::Softmax && top_k >= 1;
}

void MoeConfig::validate(const std::string& origin, int64_t num_layers) const {
  auto require = [&](bool ok, const std::string& why) {
    if (!ok) throw Error(origin + ": " + why);
  };
  require(num_experts >= 1, "a mixture needs at least one expert");
  require(top_k >= 0, "top_k must be non-negative (0 = every expert)");
  require(!always_on || num_experts >= 2, "always_on needs at least two experts (expert 0 plus routed ones)");
  const int64_t routed = router_outputs();
  require(gateless || top_k <= routed,
          "top_k " + std::to_string(top_k) + " exceeds the " + std::to_string(routed) +
              (always_on ? " routed experts (always_on keeps expert 0 out of the top-k)" : " experts"));
  require(!(gateless && always_on), "gateless and always_on exclude each other");
  require(!(gateless && global_router), "gateless has no router to share (global_router)");
  require(router_hidden >= 0, "router_hidden must be non-negative");
  require(router_aux_loss_coef >= 0, "router_aux_loss_coef must be non-negative");
  require(!modules.empty(), "modules is empty");
  std::set<std::string> seen;
  for (const auto& m : modules) {
    require(seen.insert(m).second, "module '" + m + "' is listed twice");
    if (adapters) continue;  // adapter targets are checked against the model's linear layers
    require(m != "o_proj",
            "o_proj cannot be mixed (attention experts are the q/k/v projections; o_proj stays in the shared stem)");
    std::string valid;
    for (const auto& n : mixable_modules()) valid += (valid.empty() ? "" : ", ") + n;
    require(std::find(mixable_modules().begin(), mixable_modules().end(), m) != mixable_modules().end(),
            "unknown module '" + m + "' to mix; valid: " + valid);
  }
  if (!adapters && mixes("mlp"))
    for (const char* p : {"gate_proj", "up_proj", "down_proj"})
      require(!mixes(p), std::string("mlp already mixes the whole MLP; ") + p +
                             " experts (one router each) are the alternative, not an addition");
  std::set<int64_t> layer_set;
  for (int64_t l : layers) {
    require(l >= 0 && l < num_layers,
            "layer " + std::to_string(l) + " is outside the model's " + std::to_string(num_layers) + " layers");
    require(layer_set.insert(l).second, "layer " + std::to_string(l) + " is listed twice");
  }
  require(std::is_sorted(layers.begin(), layers.end()), "layers must be ascending");
  if (adapters) {
    require(static_cast<int64_t>(adapter_ranks.size()) == num_experts &&
                static_cast<int64_t>(adapter_scalings.size()) == num_experts,
            "adapter_ranks and adapter_scalings need one entry per expert");
    for (int64_t r : adapter_ranks) require(r >= 1, "adapter ranks must be at least 1");
  }
}

nlohmann::json MoeConfig::to_json() const {
  nlohmann::json j = {{"num_experts", num_experts},
                      {"top_k", top_k},
                      {"modules", modules},
                      {"layers", layers},
                      {"adapters", adapters},
                      {"gateless", gateless},
                      {"always_on", always_on},
                      {"global_router", global_router},
                      {"router", router},
                      {"router_hidden", router_hidden},
                      {"gate_normalization", gate_normalization_name(normalization)},
                      {"router_aux_loss_coef", router_aux_loss_coef}};
  if (adapters) {
    j["adapter_ranks"] = adapter_ranks;
    j["adapter_scalings"] = adapter_scalings;
  }
  return j;
}

MoeConfig MoeConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  MoeConfig c;
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) throw Error(origin + ": missing field '" + key + "'");
    return j.at(key);
  };
  try {
    c.num_experts = field("num_experts").get<int64_t>();
    c.top_k = field("top_k").get<int64_t>();
    c.modules = field("modules").get<std::vector<std::string>>();
    c.layers = j.value("layers", std::vector<int64_t>{});
    c.adapters = j.value("adapters", false);
    c.gateless = j.value("gateless", false);
    c.always_on = j.value("always_on", false);
    c.global_router = j.value("global_router", false);
    c.router = j.value("router", std::string("linear"));
    c.router_hidden = j.value("router_hidden", int64_t{0});
    c.normalization = gate_normalization_from_name(j.value("gate_normalization", std::string("softmax")),
                                                   origin + ": gate_normalization");
    c.router_aux_loss_coef = j.value("router_aux_loss_coef", 0.0);
    if (c.adapters) {
      c.adapter_ranks = field("adapter_ranks").get<std::vector<int64_t>>();
      c.adapter_scalings = field("adapter_scalings").get<std::vector<double>>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": " + e.what());
  }
  return c;
}

}  // namespace loom
