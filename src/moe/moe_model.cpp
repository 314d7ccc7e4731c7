#include "loom/moe/moe_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include "loom/adapters/targets.h"
#include "loom/core/error.h"

namespace loom {

namespace {

// Mixed MLPs become MoE blocks under Mixtral's name; the rest stay Llama's.
FeedForwardFactory moe_factory(const MoeConfig& moe, std::shared_ptr<RoutingContext> context) {
  return [moe, context](const LlamaConfig& cfg, int64_t layer) -> FeedForwardBlock {
    if (moe.adapters || !moe.mixes("mlp") || !moe.mixes_layer(layer)) return llama_mlp(cfg, layer);
    return {"block_sparse_moe",
            std::make_shared<SparseMoeBlockImpl>(cfg.hidden_size, cfg.intermediate_size, moe, context)};
  };
}

std::shared_ptr<torch::nn::Module> module_at(torch::nn::Module& root, const std::string& path) {
  for (const auto& item : root.named_modules("", /*include_self=*/false))
    if (item.key() == path) return item.value();
  throw Error("no module named '" + path + "'");
}

// Resets the routing context when a forward pass ends, normally or not.
class RoutingScope {
 public:
  explicit RoutingScope(RoutingContext& c, bool record) : c_(c) {
    c_.record = record;
    c_.recorded.clear();
  }
  ~RoutingScope() {
    c_.record = false;
    c_.recorded.clear();
    c_.global_logits = torch::Tensor();
  }
  RoutingScope(const RoutingScope&) = delete;
  RoutingScope& operator=(const RoutingScope&) = delete;

 private:
  RoutingContext& c_;
};

// The config, checked before any module is built from it.
MoeConfig checked(const MoeConfig& moe, const LlamaConfig& llama, MoeLayout layout) {
  moe.validate("moe config", llama.num_hidden_layers);
  if (!moe.gateless) router_types().get(moe.router, "moe config: router");
  if (layout == MoeLayout::Mixtral && !moe.fits_mixtral())
    throw Error(
        "moe config: this mixture does not fit Hugging Face's Mixtral layout (whole-MLP experts in every "
        "layer, one linear softmax top-k router each); save it as loom_moe");
  return moe;
}

}  // namespace

int64_t layer_of_module(const std::string& name) {
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  const size_t end = name.find('.', prefix.size());
  try {
    return std::stoll(name.substr(prefix.size(), end - prefix.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

MoeForCausalLMImpl::MoeForCausalLMImpl(const LlamaConfig& llama, const MoeConfig& moe, MoeLayout layout)
    : MoeForCausalLMImpl(llama, checked(moe, llama, layout), layout, std::make_shared<RoutingContext>()) {}

MoeForCausalLMImpl::MoeForCausalLMImpl(const LlamaConfig& llama, const MoeConfig& moe, MoeLayout layout,
                                       std::shared_ptr<RoutingContext> context)
    : LlamaForCausalLMImpl(llama, moe_factory(moe, context)), moe_(moe), layout_(layout), context_(context) {
  if (moe_.global_router) {
    global_router =
        make_router(moe_.router, {llama.hidden_size, moe_.router_outputs(), moe_.router_hidden}, "global router");
    model->register_module("router", global_router);
  }
  attach_linear_mixtures();
  reset_parameters(0);
}

void MoeForCausalLMImpl::attach_linear_mixtures() {
  std::vector<std::string> targets;
  for (const auto& m : moe_.modules)
    if (moe_.adapters || m != "mlp") targets.push_back(m);
  if (targets.empty()) return;
  for (auto& [name, host] : find_linear_layers(*this, targets, "moe modules")) {
    const int64_t layer = layer_of_module(name);
    if (layer < 0 || !moe_.mixes_layer(layer)) continue;
    const size_t dot = name.rfind('.');
    auto parent = module_at(*this, name.substr(0, dot));
    const std::string leaf = name.substr(dot + 1);
    if (moe_.adapters) {
      AdapterBlend blend(host->in_features(), host->out_features(), moe_, context_);
      parent->register_module(leaf + "_blend", blend);
      host->set_extension(std::make_shared<MixtureExtension>(blend));
      blends_.emplace(name, blend);
    } else {
      ProjectionMixture mixture(host->in_features(), host->out_features(), moe_, context_);
      parent->register_module(leaf + "_moe", mixture);
      host->set_extension(std::make_shared<MixtureExtension>(mixture));
      projections_.emplace(name, mixture);
    }
  }
}

void MoeForCausalLMImpl::reset_parameters(uint64_t seed) { LlamaForCausalLMImpl::reset_parameters(seed); }

SparseMoeBlockImpl* MoeForCausalLMImpl::moe_block(int64_t layer_index) {
  return dynamic_cast<SparseMoeBlockImpl*>(layer(layer_index).mlp.get());
}

std::vector<std::pair<std::string, std::shared_ptr<RouterImpl>>> MoeForCausalLMImpl::routers() {
  std::vector<std::pair<std::string, std::shared_ptr<RouterImpl>>> out;
  for (const auto& item : named_modules("", /*include_self=*/false))
    if (auto r = std::dynamic_pointer_cast<RouterImpl>(item.value())) out.push_back({item.key(), r});
  return out;
}

std::vector<std::string> MoeForCausalLMImpl::router_parameter_names() const {
  std::vector<std::string> out;
  for (const auto& item : named_modules("", /*include_self=*/false))
    if (std::dynamic_pointer_cast<RouterImpl>(item.value()))
      for (const auto& p : item.value()->named_parameters()) out.push_back(item.key() + "." + p.key());
  return out;
}

int64_t MoeForCausalLMImpl::total_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

int64_t MoeForCausalLMImpl::active_parameters() const {
  // Experts a token does not use, per mixed module: (N - active) of N.
  const int64_t n = moe_.num_experts, idle = n - moe_.active_experts();
  int64_t unused = 0;
  auto expert_numel = [](const torch::nn::Module& m) {
    int64_t k = 0;
    for (const auto& p : m.parameters()) k += p.numel();
    return k;
  };
  for (const auto& item : named_modules("", /*include_self=*/false)) {
    if (auto* block = dynamic_cast<const SparseMoeBlockImpl*>(item.value().get()))
      unused += idle * expert_numel(*block->experts->ptr(0));
  }
  for (const auto& [name, mixture] : projections_) {
    int64_t per_expert = 0;
    for (const auto& p : mixture->named_parameters())
      if (p.key().rfind("experts.", 0) == 0) per_expert = p.value().numel();
    unused += idle * per_expert;
  }
  for (const auto& [name, blend] : blends_) {
    int64_t all = 0;
    for (const auto& p : blend->named_parameters())
      if (p.key().rfind("adapters.", 0) == 0) all += p.value().numel();
    unused += all * idle / n;
  }
  return total_parameters() - unused;
}

nlohmann::json MoeForCausalLMImpl::config_json() const {
  nlohmann::json j = cfg_.to_json();
  if (layout_ == MoeLayout::Mixtral) {
    j["architectures"] = {"MixtralForCausalLM"};
    j["model_type"] = "mixtral";
    j["num_local_experts"] = moe_.num_experts;
    j["num_experts_per_tok"] = moe_.top_k;
    j["router_aux_loss_coef"] = moe_.router_aux_loss_coef;
    j["output_router_logits"] = false;
    j["router_jitter_noise"] = 0.0;
    j["sliding_window"] = nullptr;
    j.erase("mlp_bias");
  } else {
    j["architectures"] = {"LoomMoeForCausalLM"};
    j["model_type"] = "loom_moe";
    j["moe"] = moe_.to_json();
  }
  j["parameter_counts"] = {{"total", total_parameters()}, {"active_per_token", active_parameters()}};
  return j;
}

void MoeForCausalLMImpl::route_globally(const torch::Tensor& input_ids) {
  if (!global_router) return;
  if (input_ids.numel() > 0 &&
      (input_ids.min().item<int64_t>() < 0 || input_ids.max().item<int64_t>() >= cfg_.vocab_size))
    throw Error("input token id outside the vocabulary of " + std::to_string(cfg_.vocab_size));
  context_->global_logits = global_router->forward(model->embed_tokens(input_ids));
}

ModelOutput MoeForCausalLMImpl::forward_hidden(const BatchTensors& batch, bool keep_layer_hidden) {
  RoutingScope scope(*context_, /*record=*/true);
  route_globally(batch.input_ids);
  ModelOutput out = LlamaForCausalLMImpl::forward_hidden(batch, keep_layer_hidden);
  if (context_->global_logits.defined()) out.record.router_logits.push_back(context_->global_logits);
  for (auto& logits : context_->recorded) out.record.router_logits.push_back(logits);
  return out;
}

torch::Tensor MoeForCausalLMImpl::forward_cached(const torch::Tensor& input_ids, KVCache* cache) {
  RoutingScope scope(*context_, /*record=*/false);
  route_globally(input_ids);
  return LlamaForCausalLMImpl::forward_cached(input_ids, cache);
}

std::shared_ptr<MoeForCausalLMImpl> as_moe(const CausalLM& model, const std::string& origin) {
  auto moe = std::dynamic_pointer_cast<MoeForCausalLMImpl>(model);
  if (!moe)
    throw Error(origin + ": expected a mixture of experts (mixtral or loom_moe), got model_type '" +
                model->model_type() + "'");
  return moe;
}

namespace {

LlamaConfig llama_part(const nlohmann::json& j, const std::string& origin) {
  nlohmann::json copy = j;
  copy["model_type"] = "llama";
  return LlamaConfig::from_json(copy, origin);
}

int64_t required_int(const nlohmann::json& j, const char* key, const std::string& origin) {
  if (!j.contains(key)) throw Error(origin + ": missing field '" + key + "'");
  if (!j[key].is_number_integer()) throw Error(origin + ": field '" + key + "' must be an integer");
  return j[key].get<int64_t>();
}

}  // namespace

MoeForCausalLM mixtral_from_config(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  if (j.contains("model_type") && j["model_type"] != "mixtral")
    throw Error(origin + ": model_type is " + j["model_type"].dump() + ", expected \"mixtral\"");
  LlamaConfig llama = llama_part(j, origin);
  MoeConfig moe;
  moe.num_experts = required_int(j, "num_local_experts", origin);
  moe.top_k = required_int(j, "num_experts_per_tok", origin);
  if (moe.top_k < 1) throw Error(origin + ": num_experts_per_tok must be at least 1");
  if (j.contains("router_aux_loss_coef") && j["router_aux_loss_coef"].is_number())
    moe.router_aux_loss_coef = j["router_aux_loss_coef"].get<double>();
  if (j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    if (!j["sliding_window"].is_number_integer() || j["sliding_window"].get<int64_t>() < llama.max_position_embeddings)
      throw Error(origin + ": sliding_window " + j["sliding_window"].dump() +
                  " shorter than max_position_embeddings is not supported (loom attends to the whole context)");
  }
  if (j.contains("router_jitter_noise") && j["router_jitter_noise"].is_number() &&
      j["router_jitter_noise"].get<double>() != 0.0)
    throw Error(origin + ": router_jitter_noise > 0 is not supported");
  moe.validate(origin, llama.num_hidden_layers);
  return MoeForCausalLM(llama, moe, MoeLayout::Mixtral);
}

MoeForCausalLM loom_moe_from_config(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  if (!j.contains("moe")) throw Error(origin + ": missing field 'moe' (the mixture's description)");
  LlamaConfig llama = llama_part(j, origin);
  MoeConfig moe = MoeConfig::from_json(j["moe"], origin + ": moe");
  moe.validate(origin + ": moe", llama.num_hidden_layers);
  router_types().get(moe.router, origin + ": moe: router");
  return MoeForCausalLM(llama, moe, MoeLayout::Loom);
}

}  // namespace loom
