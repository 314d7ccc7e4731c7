// MoE benchmarks (bench/moe_bench.sh runs them beside the PyTorch baseline):
//
//   dispatch  one MoE layer (SparseMoeBlock): sparse top-k dispatch against
//             running every expert on every token (the same masked gates, so
//             the outputs agree) and against the expert matmuls alone,
//             forward; sparse forward+backward; writes the
//             layer's weights, input and output (--export FILE) for
//             bench/moe_baseline.py to run the same layer on the same data
//   train     training tokens/s of a top-k-of-N Mixtral against its dense
//             Llama base, with the core's trainer (AdamW, clipping, packing)
//
//   build/bench/bench_moe dispatch --threads 1 --tokens 4096 --experts 8 --top-k 2 --export /tmp/layer.safetensors
//   build/bench/bench_moe train --threads 1 --experts 4 --top-k 2
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "loom/core/cpu_setup.h"
#include "loom/moe/blocks.h"
#include "loom/moe/moe_model.h"
#include "loom/tensor/tensor_io.h"
#include "loom/tensor/threads.h"
#include "loom/train/trainer.h"

using namespace loom;
using Clock = std::chrono::steady_clock;

namespace {

std::map<std::string, std::string> parse_flags(int argc, char** argv) {
  std::map<std::string, std::string> f;
  for (int i = 2; i + 1 < argc; i += 2) f[argv[i]] = argv[i + 1];
  return f;
}

int64_t flag(const std::map<std::string, std::string>& f, const std::string& name, int64_t fallback) {
  return f.count(name) ? std::atoll(f.at(name).c_str()) : fallback;
}

// Median seconds of each function over `reps` rounds after one warm-up
// round; every round calls each function once, in turn, so that a change in
// the machine's load (it is shared) reaches every side alike.
std::vector<double> median_seconds(int64_t reps, const std::vector<std::function<void()>>& runs) {
  for (const auto& run : runs) run();
  std::vector<std::vector<double>> times(runs.size());
  for (int64_t i = 0; i < reps; ++i)
    for (size_t r = 0; r < runs.size(); ++r) {
      auto start = Clock::now();
      runs[r]();
      times[r].push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
  std::vector<double> medians;
  for (auto& t : times) {
    std::sort(t.begin(), t.end());
    medians.push_back(t[t.size() / 2]);
  }
  return medians;
}

int dispatch_bench(const std::map<std::string, std::string>& f) {
  const int64_t tokens = flag(f, "--tokens", 4096), hidden = flag(f, "--hidden", 256), inter = flag(f, "--inter", 688);
  const int64_t experts = flag(f, "--experts", 8), top_k = flag(f, "--top-k", 2), reps = flag(f, "--reps", 10);
  const int64_t seed = flag(f, "--seed", 0);
  MoeConfig cfg;
  cfg.num_experts = experts;
  cfg.top_k = top_k;
  auto context = std::make_shared<RoutingContext>();
  SparseMoeBlock block(hidden, inter, cfg, context);
  torch::manual_seed(static_cast<uint64_t>(seed));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : block->named_parameters())
      p.value().normal_(0, 1.0 / std::sqrt(static_cast<double>(p.value().size(1))));
  }
  auto x = torch::randn({tokens, hidden});
  // The same routing, every expert on every token: gates zero where not chosen.
  auto dense = [&](const torch::Tensor& in) {
    Routing r = route(block->gate->forward(in), top_k, GateNormalization::Softmax);
    Routing all;
    all.dense = true;
    all.experts = torch::arange(experts, torch::kLong).unsqueeze(0).expand({in.size(0), experts});
    all.weights = torch::zeros({in.size(0), experts}).scatter(1, r.experts, r.weights);
    return dispatch(in, all, experts, hidden,
                    [&](int64_t e, const torch::Tensor& xe) { return block->expert(e).forward(xe); });
  };
  torch::Tensor sparse_out, dense_out;
  {
    torch::NoGradGuard no_grad;
    sparse_out = block->forward(x, nullptr);
    dense_out = dense(x);
  }
  auto chosen = route(block->gate->forward(x), top_k, GateNormalization::Softmax).experts.reshape({-1});
  auto load = torch::bincount(chosen, {}, experts).to(torch::kDouble);
  nlohmann::json out = {{"impl", "loom"},
                        {"threads", flag(f, "--threads", 1)},
                        {"tokens", tokens},
                        {"hidden", hidden},
                        {"inter", inter},
                        {"experts", experts},
                        {"top_k", top_k},
                        {"seed", seed},
                        {"max_expert_share", load.max().item<double>() / static_cast<double>(tokens * top_k)},
                        {"sparse_vs_dense_max_diff", (sparse_out - dense_out).abs().max().item<double>()}};
  auto xg = x.clone().requires_grad_();
  auto train_step = [&] {
    block->zero_grad();
    block->forward(xg, nullptr).sum().backward();
  };
  // The ceiling: only the experts' three matmuls on their own (pre-gathered)
  // tokens, no routing, gather, activation or scatter.
  std::vector<torch::Tensor> inputs;
  {
    torch::NoGradGuard no_grad;
    const DispatchPlan plan = plan_dispatch(route(block->gate->forward(x), top_k, GateNormalization::Softmax), experts);
    for (int64_t e = 0; e < experts; ++e)
      inputs.push_back(
          x.index_select(0, plan.tokens.narrow(0, plan.offsets[e], plan.offsets[e + 1] - plan.offsets[e])));
  }
  auto gemm_only = [&] {
    torch::NoGradGuard no_grad;
    for (int64_t e = 0; e < experts; ++e) {
      auto& ex = block->expert(e);
      torch::mm(inputs[e], ex.w1->weight.t());
      torch::mm(torch::mm(inputs[e], ex.w3->weight.t()), ex.w2->weight.t());
    }
  };
  auto sparse_forward = [&] {
    torch::NoGradGuard no_grad;
    block->forward(x, nullptr);
  };
  auto dense_forward = [&] {
    torch::NoGradGuard no_grad;
    dense(x);
  };
  const auto s = median_seconds(reps, {gemm_only, sparse_forward, dense_forward, train_step});
  const double t = static_cast<double>(tokens);
  out["gemm_only_forward_tokens_per_s"] = t / s[0];
  out["sparse_forward_tokens_per_s"] = t / s[1];
  out["dense_forward_tokens_per_s"] = t / s[2];
  out["sparse_train_tokens_per_s"] = t / s[3];
  if (f.count("--export")) {
    NamedTensors tensors = {{"x", x}, {"y", sparse_out}};
    for (auto& p : block->named_parameters()) tensors.push_back({p.key(), p.value().detach()});
    save_tensors(f.at("--export"), tensors);
  }
  std::cout << out.dump() << "\n";
  return 0;
}

int train_bench(const std::map<std::string, std::string>& f) {
  const int64_t experts = flag(f, "--experts", 4), top_k = flag(f, "--top-k", 2), steps = flag(f, "--steps", 8);
  const int64_t batch = flag(f, "--batch", 16), seq = flag(f, "--seq-len", 256), seed = flag(f, "--seed", 0);
  LlamaConfig cfg;  // the quickstart's shape: 256 / 688 / 4 layers / vocab 4096
  std::vector<Example> data;
  for (int64_t b = 0; b < batch * (steps + 2); ++b) {
    Example e;
    for (int64_t t = 0; t < seq; ++t)
      e.tokens.push_back(static_cast<int32_t>((b * 7919 + t * 104729 + seed * 31) % cfg.vocab_size));
    e.target.assign(static_cast<size_t>(seq), 1);
    e.target[0] = 0;
    data.push_back(std::move(e));
  }
  TokenizerTrainOptions topts;
  topts.vocab_size = 259;
  Tokenizer tok = Tokenizer::train({"abc"}, topts);
  TrainOptions opts;
  opts.micro_batch_size = batch;
  opts.dataset.max_seq_len = seq;
  opts.max_steps = steps + 2;
  opts.seed = static_cast<uint64_t>(seed);
  opts.progress = false;
  auto comm = Communicator::create(DistOptions{});
  torch::manual_seed(static_cast<uint64_t>(seed));
  LlamaForCausalLM dense(cfg);
  MoeConfig moe;
  moe.num_experts = experts;
  moe.top_k = top_k;
  MoeForCausalLM mixture(cfg, moe, MoeLayout::Mixtral);
  {
    // Routers that spread tokens (a trained router's scale), not the near-uniform N(0, 0.02).
    torch::NoGradGuard no_grad;
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) + 1);
    for (auto& [name, r] : mixture->routers())
      r->init_random(1.0 / std::sqrt(static_cast<double>(cfg.hidden_size)), gen);
  }
  Trainer dense_trainer(opts, dense.ptr(), tok, data, {}, comm.get(), "/tmp/loom-bench-moe-unused");
  Trainer moe_trainer(opts, mixture.ptr(), tok, data, {}, comm.get(), "/tmp/loom-bench-moe-unused");
  // Steps alternate between the two models (after one warm-up step each), so
  // that both see the same machine load; each step is a full optimizer step.
  const auto s = median_seconds(steps, {[&] { dense_trainer.train_step(); }, [&] { moe_trainer.train_step(); }});
  const double tokens = static_cast<double>(batch * seq);
  const double d = tokens / s[0], m = tokens / s[1];
  nlohmann::json out = {{"threads", flag(f, "--threads", 1)},
                        {"seed", seed},
                        {"tokens_per_step", batch * seq},
                        {"experts", experts},
                        {"top_k", top_k},
                        {"dense_tokens_per_s", d},
                        {"moe_tokens_per_s", m},
                        {"moe_vs_dense", m / d},
                        {"dense_parameters", cfg.num_parameters()},
                        {"moe_parameters", mixture->total_parameters()},
                        {"moe_active_parameters", mixture->active_parameters()}};
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ensure_optimised_blas(argc, argv);
  if (argc < 2) {
    std::cerr << "usage: bench_moe dispatch|train [--threads N] ...\n";
    return 2;
  }
  const auto f = parse_flags(argc, argv);
  set_compute_threads(static_cast<int>(flag(f, "--threads", 1)));
  const std::string mode = argv[1];
  if (mode == "dispatch") return dispatch_bench(f);
  if (mode == "train") return train_bench(f);
  std::cerr << "unknown mode '" << mode << "'\n";
  return 2;
}
