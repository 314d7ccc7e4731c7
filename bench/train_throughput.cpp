// Training throughput and model-FLOPs utilisation of loom's Llama trainer step
// (forward, backward, clipping, AdamW) on the ~5M-parameter reference model,
// against the single-thread sgemm peak measured in the same process, with the
// process's peak RSS.
//
//   build/bench/bench_train_throughput --threads 1 --steps 20
//   build/bench/bench_train_throughput --fused none          # LibTorch's separate passes
//   build/bench/bench_train_throughput --profile 3           # self time per op, to stderr
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "loom/core/cpu_setup.h"
#include "loom/models/llama/llama.h"
#include "loom/nn/fused_ops.h"
#include "loom/tensor/threads.h"
#include "loom/train/fused_adamw.h"

using namespace loom;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Best sgemm rate over the matmul shapes the reference model uses.
double sgemm_peak_gflops(int threads) {
  set_compute_threads(threads);
  double best = 0;
  for (auto [m, k, n] :
       {std::tuple{4096, 256, 256}, {4096, 256, 688}, {4096, 688, 256}, {4096, 256, 4096}, {1024, 1024, 1024}}) {
    auto a = torch::randn({m, k}), b = torch::randn({k, n});
    torch::mm(a, b);
    int reps = 0;
    auto start = Clock::now();
    while (seconds_since(start) < 0.3) {
      torch::mm(a, b);
      ++reps;
    }
    best = std::max(best, 2.0 * m * k * n * reps / seconds_since(start) / 1e9);
  }
  return best;
}

// Self time per operator (time inside it minus time in the operators it
// calls), from LibTorch's legacy profiler, printed as the top rows to stderr.
void print_self_times(const torch::autograd::profiler::thread_event_lists& lists, int steps) {
  using torch::autograd::profiler::EventKind;
  std::map<std::string, std::pair<double, int64_t>> self;  // name -> (us, calls)
  double total = 0;
  for (const auto& events : lists) {
    struct Open {
      const torch::autograd::profiler::LegacyEvent* push;
      double children_us;
    };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
        Open open = stack.back();
        stack.pop_back();
        const double us = open.push->cpuElapsedUs(e);
        auto& row = self[open.push->name()];
        row.first += us - open.children_us;
        row.second += 1;
        if (stack.empty())
          total += us;
        else
          stack.back().children_us += us;
      }
    }
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(self.begin(), self.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::fprintf(stderr, "%-44s %10s %7s %8s\n", "operator (self time)", "ms/step", "share", "calls");
  for (size_t i = 0; i < std::min<size_t>(rows.size(), 30); ++i)
    std::fprintf(stderr, "%-44s %10.1f %6.1f%% %8lld\n", rows[i].first.c_str(), rows[i].second.first / 1e3 / steps,
                 100.0 * rows[i].second.first / std::max(total, 1.0),
                 static_cast<long long>(rows[i].second.second / steps));
  std::fprintf(stderr, "%-44s %10.1f\n", "total inside operators", total / 1e3 / steps);
}

// --fused all | none | a comma list of cross_entropy, swiglu, rope, adamw.
FusedOps parse_fused(const std::string& list, bool* adamw) {
  FusedOps f = FusedOps::none();
  *adamw = false;
  if (list == "all") {
    *adamw = true;
    return FusedOps{};
  }
  if (list == "none") return f;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = std::min(list.find(',', begin), list.size());
    std::string name = list.substr(begin, end - begin);
    if (name == "cross_entropy")
      f.cross_entropy = true;
    else if (name == "swiglu")
      f.swiglu = true;
    else if (name == "rope")
      f.rope = true;
    else if (name == "adamw")
      *adamw = true;
    else
      throw std::runtime_error("--fused: unknown op '" + name +
                               "'; valid: all, none, or a list of cross_entropy, swiglu, rope, adamw");
    begin = end + 1;
  }
  return f;
}

double rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ensure_optimised_blas(argc, argv);
  const double rss_start = rss_mb();  // LibTorch loaded, nothing allocated
  int threads = 1, steps = 20, batch = 16, seq = 256, profile_steps = 0;
  std::string fused = "all";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads")
      threads = std::stoi(value);
    else if (flag == "--steps")
      steps = std::stoi(value);
    else if (flag == "--batch")
      batch = std::stoi(value);
    else if (flag == "--seq-len")
      seq = std::stoi(value);
    else if (flag == "--profile")
      profile_steps = std::stoi(value);
    else if (flag == "--fused")
      fused = value;
    else {
      std::cerr << "unknown flag " << flag << "; valid: --threads --steps --batch --seq-len --profile --fused\n";
      return 2;
    }
  }
  bool fused_adamw = false;
  set_fused_ops(parse_fused(fused, &fused_adamw));
  const double peak1 = sgemm_peak_gflops(1);
  set_compute_threads(threads);

  LlamaConfig cfg;  // d=256, 4 layers, 4 heads, SwiGLU 688, vocab 4096
  LlamaForCausalLM model(cfg);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.1));
  std::vector<int32_t> tokens, positions, labels, cu = {0};
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < seq; ++t) {
      tokens.push_back((b * 7919 + t * 104729) % 4096);
      positions.push_back(t);
      labels.push_back(t + 1 < seq ? (b * 7919 + (t + 1) * 104729) % 4096 : kIgnoreLabel);
    }
    cu.push_back(cu.back() + seq);
  }
  PackedBatch packed;
  packed.input_ids = tokens;
  packed.position_ids = positions;
  packed.labels = labels;
  packed.cu_seqlens = cu;
  packed.max_seqlen = seq;
  packed.num_label_tokens = batch * (seq - 1);
  BatchTensors bt = to_tensors(packed);
  auto step = [&] {
    opt.zero_grad();
    auto loss = model->loss_sum(bt) / static_cast<double>(bt.num_label_tokens);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    if (fused_adamw)
      fused_adamw_step(opt);
    else
      opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up
  if (profile_steps > 0) {
    torch::autograd::profiler::TLSLegacyProfilerGuard guard(
        torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU),
        [&](const torch::autograd::profiler::thread_event_lists& lists) { print_self_times(lists, profile_steps); });
    for (int i = 0; i < profile_steps; ++i) step();
  }
  auto start = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double elapsed = seconds_since(start);
  const double tokens_per_s = static_cast<double>(steps) * batch * seq / elapsed;
  // FLOPs per token: 6 x matmul parameters (all but the input embedding) plus
  // causal attention, 6 * layers * seq * d (QK^T and PV, half masked, fwd+bwd).
  const double matmul_params = static_cast<double>(cfg.num_parameters() - cfg.vocab_size * cfg.hidden_size);
  const double flops_per_token = 6.0 * matmul_params + 6.0 * cfg.num_hidden_layers * seq * cfg.hidden_size;
  const double achieved = tokens_per_s * flops_per_token / 1e9;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::json result = {{"impl", "loom"},
                           {"fused", fused},
                           {"threads", threads},
                           {"tokens_per_s", tokens_per_s},
                           {"model_gflops", achieved},
                           {"sgemm_peak_1thread_gflops", peak1},
                           {"mfu_vs_1thread_peak", achieved / peak1},
                           {"mfu_vs_threads_x_peak", achieved / (peak1 * threads)},
                           {"peak_rss_mb", static_cast<double>(usage.ru_maxrss) / 1024.0},
                           {"rss_start_mb", rss_start},
                           {"params", cfg.num_parameters()},
                           {"openblas_core", openblas_core_name()}};
  std::cout << result.dump() << "\n";
  return 0;
}
