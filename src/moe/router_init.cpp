// Router initialisation: random, favour-the-base, and hidden-state rows
// computed from the base model on each expert's positive prompts.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <map>

#include "loom/adapters/targets.h"
#include "loom/core/collate.h"
#include "loom/core/error.h"
#include "loom/moe/mix.h"
#include "loom/tensor/batch.h"
#include "loom/tensor/eval_mode.h"

namespace loom {

namespace {

// Per-prompt means of rows [T, d] of a packed batch, summed over its prompts.
torch::Tensor sum_of_segment_means(const torch::Tensor& x, const torch::Tensor& cu_seqlens) {
  const int64_t segments = cu_seqlens.size(0) - 1;
  auto bounds = cu_seqlens.to(torch::kLong);
  auto lengths = (bounds.slice(0, 1) - bounds.slice(0, 0, segments)).to(x.scalar_type());
  auto ids = torch::repeat_interleave(torch::arange(segments, torch::kLong),
                                      bounds.slice(0, 1) - bounds.slice(0, 0, segments));
  auto sums = torch::zeros({segments, x.size(1)}, x.options()).index_add_(0, ids, x);
  return (sums / lengths.unsqueeze(1)).sum(0);
}

// Records the input of the linear layer it is attached to, leaving its output unchanged.
class InputCapture : public LinearExtension {
 public:
  torch::Tensor forward(LinearImpl&, const torch::Tensor& x, const torch::Tensor& base) override {
    last = x;
    return base;
  }
  std::string kind() const override { return "input-capture"; }
  torch::Tensor last;
};

// What a router's row averages: a base linear layer's input, the residual
// stream entering a layer, or the token embeddings.
struct RowSource {
  std::string linear;  // base layer whose input the router sees ("" = not a linear input)
  int64_t layer = -1;  // residual stream entering this layer
  bool embeddings = false;
};

RowSource source_of(const std::string& router_name, const std::string& hidden_source) {
  RowSource s;
  if (router_name == "model.router") {
    s.embeddings = true;
    return s;
  }
  const int64_t layer = layer_of_module(router_name);
  std::string host;
  const std::string block = ".block_sparse_moe.gate";
  if (router_name.size() > block.size() &&
      router_name.compare(router_name.size() - block.size(), block.size(), block) == 0)
    host = "model.layers." + std::to_string(layer) + ".mlp.gate_proj";
  for (const std::string suffix : {"_moe.router", "_blend.router"})
    if (host.empty() && router_name.size() > suffix.size() &&
        router_name.compare(router_name.size() - suffix.size(), suffix.size(), suffix) == 0)
      host = router_name.substr(0, router_name.size() - suffix.size());
  if (host.empty() || layer < 0) throw Error("router_init hidden: cannot place router '" + router_name + "'");
  if (hidden_source == "residual") {
    if (host.size() >= 10 && host.compare(host.size() - 10, 10, ".down_proj") == 0)
      throw Error("router_init hidden with hidden_source residual cannot initialise '" + router_name +
                  "': down_proj's router sees the intermediate activation, not the hidden state");
    s.layer = layer;
  } else {
    s.linear = host;
  }
  return s;
}

std::vector<Example> positive_examples(const std::string& path, const Tokenizer& tokenizer, int64_t max_prompts,
                                       int64_t max_len) {
  DatasetOptions opts;
  opts.max_seq_len = max_len;
  opts.overlong = OverlongPolicy::Truncate;
  opts.empty = EmptyPolicy::Skip;
  opts.add_eos = false;
  auto examples = load_jsonl_examples(path, tokenizer, opts);
  if (examples.empty())
    throw Error(path + ": the positive-prompt file has no prompts (rows of {\"text\"} or {\"prompt\",\"completion\"})");
  if (max_prompts > 0 && static_cast<int64_t>(examples.size()) > max_prompts)
    examples.resize(static_cast<size_t>(max_prompts));
  for (auto& e : examples) e.target.assign(e.tokens.size(), 1);  // every token counts in the mean
  return examples;
}

// Mean over the prompts of each source's per-prompt token mean.
std::vector<torch::Tensor> mean_inputs(CausalLMImpl& base, const std::vector<RowSource>& sources,
                                       const std::vector<Example>& prompts, int32_t pad_id) {
  auto* llama = dynamic_cast<LlamaForCausalLMImpl*>(&base);
  if (!llama) throw Error("router_init hidden: the base model is a " + base.model_type() + ", not a llama");
  std::map<std::string, std::shared_ptr<InputCapture>> captures;
  bool residual = false;
  for (const auto& s : sources) {
    residual |= s.layer >= 0;
    if (!s.linear.empty() && !captures.count(s.linear)) {
      auto host = linear_layer_named(base, s.linear, "router_init hidden");
      if (host->extension())
        throw Error("router_init hidden: the base model's '" + s.linear + "' carries an extension");
      captures[s.linear] = std::make_shared<InputCapture>();
    }
  }
  for (auto& [name, capture] : captures) linear_layer_named(base, name, "router_init")->set_extension(capture);
  std::vector<torch::Tensor> sums(sources.size());
  try {
    torch::NoGradGuard no_grad;
    EvalModeScope eval(base);
    for (size_t begin = 0; begin < prompts.size(); begin += 16) {
      std::vector<const Example*> group;
      for (size_t i = begin; i < std::min(prompts.size(), begin + 16); ++i) group.push_back(&prompts[i]);
      const BatchTensors batch = to_tensors(collate(group, Packing::PaddingFree, pad_id));
      ModelOutput out = base.forward_hidden(batch, residual);
      torch::Tensor embeddings;
      for (size_t i = 0; i < sources.size(); ++i) {
        const RowSource& s = sources[i];
        torch::Tensor x;
        if (!s.linear.empty()) {
          x = captures.at(s.linear)->last;
        } else if (s.embeddings || s.layer == 0) {
          if (!embeddings.defined()) embeddings = llama->model->embed_tokens(batch.input_ids);
          x = embeddings;
        } else {
          x = out.record.layer_hidden.at(static_cast<size_t>(s.layer - 1));
        }
        auto part = sum_of_segment_means(x, batch.cu_seqlens);
        sums[i] = sums[i].defined() ? sums[i] + part : part;
      }
    }
  } catch (...) {
    for (auto& [name, capture] : captures) linear_layer_named(base, name, "router_init")->set_extension(nullptr);
    throw;
  }
  for (auto& [name, capture] : captures) linear_layer_named(base, name, "router_init")->set_extension(nullptr);
  for (auto& s : sums) s = s / static_cast<double>(prompts.size());
  return sums;
}

}  // namespace

void init_routers(MoeForCausalLMImpl& moe, const RouterInitOptions& o, CausalLMImpl& base, const Tokenizer& tokenizer) {
  const MoeConfig& cfg = moe.moe_config();
  auto routers = moe.routers();
  if (routers.empty()) {
    if (o.init != "random") throw Error("router_init " + o.init + ": a gate-less mixture has no router to initialise");
    return;
  }
  torch::NoGradGuard no_grad;
  if (o.init == "random") {
    // Where the paper is silent on the seed: one generator over the routers in module order.
    auto gen = at::detail::createCPUGenerator(o.seed);
    for (auto& [name, router] : routers) router->init_random(o.std, gen);
    return;
  }
  if (o.init != "base" && o.init != "hidden")
    throw Error("router_init: unknown initialisation '" + o.init + "'; valid: random, base, hidden");
  for (auto& [name, router] : routers)
    if (!router->logit_rows())
      throw Error("router_init " + o.init + " needs routers with one row per expert (router: linear); '" + name +
                  "' is a " + cfg.router + " router");
  if (o.init == "base") {
    if (cfg.always_on)
      throw Error("router_init base favours expert 0, which always_on runs anyway; use random or hidden");
    for (auto& [name, router] : routers) {
      auto& rows = *router->logit_rows();
      rows.fill_(1e-6);
      rows[0].fill_(1.0);
    }
    return;
  }
  if (o.hidden_source != "router_input" && o.hidden_source != "residual")
    throw Error("hidden_source: unknown value '" + o.hidden_source + "'; valid: router_input, residual");
  if (static_cast<int64_t>(o.positive_prompts.size()) != cfg.num_experts)
    throw Error("positive_prompts: router_init hidden needs one JSONL file per expert (" +
                std::to_string(cfg.num_experts) + "), got " + std::to_string(o.positive_prompts.size()));
  std::vector<RowSource> sources;
  for (auto& [name, router] : routers) sources.push_back(source_of(name, o.hidden_source));
  for (auto& [name, router] : routers) router->logit_rows()->zero_();
  // With always_on, the router scores experts 1..N-1: expert 0's prompts are not needed.
  for (int64_t e = cfg.always_on ? 1 : 0; e < cfg.num_experts; ++e) {
    const std::string& path = o.positive_prompts[static_cast<size_t>(e)];
    auto prompts = positive_examples(path, tokenizer, o.max_prompts, base.max_positions());
    auto means = mean_inputs(base, sources, prompts, tokenizer.pad_id());
    const int64_t row = cfg.always_on ? e - 1 : e;
    for (size_t i = 0; i < routers.size(); ++i) {
      auto& rows = *routers[i].second->logit_rows();
      if (means[i].size(0) != rows.size(1))
        throw Error("router_init hidden: router '" + routers[i].first + "' expects inputs of width " +
                    std::to_string(rows.size(1)) + ", the base gives " + std::to_string(means[i].size(0)));
      rows[row].copy_(means[i] / means[i].norm().clamp_min(1e-8));
    }
  }
}

}  // namespace loom
