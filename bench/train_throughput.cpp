// Training throughput and model-FLOPs utilisation of loom's Llama trainer step
// (forward, backward, AdamW) on the ~5M-parameter reference model, against
// the single-thread sgemm peak measured in the same process.
//
//   build/bench/bench_train_throughput --threads 1 --steps 20
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "loom/core/cpu_setup.h"
#include "loom/models/llama/llama.h"
#include "loom/tensor/threads.h"

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

}  // namespace

int main(int argc, char** argv) {
  ensure_optimised_blas(argc, argv);
  int threads = 1, steps = 20, batch = 16, seq = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int value = std::atoi(argv[i + 1]);
    if (flag == "--threads")
      threads = value;
    else if (flag == "--steps")
      steps = value;
    else if (flag == "--batch")
      batch = value;
    else if (flag == "--seq-len")
      seq = value;
  }
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
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up
  auto start = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double elapsed = seconds_since(start);
  const double tokens_per_s = static_cast<double>(steps) * batch * seq / elapsed;
  // FLOPs per token: 6 x matmul parameters (all but the input embedding) plus
  // causal attention, 6 * layers * seq * d (QK^T and PV, half masked, fwd+bwd).
  const double matmul_params = static_cast<double>(cfg.num_parameters() - cfg.vocab_size * cfg.hidden_size);
  const double flops_per_token = 6.0 * matmul_params + 6.0 * cfg.num_hidden_layers * seq * cfg.hidden_size;
  const double achieved = tokens_per_s * flops_per_token / 1e9;
  nlohmann::json result = {{"impl", "loom"},
                           {"threads", threads},
                           {"tokens_per_s", tokens_per_s},
                           {"model_gflops", achieved},
                           {"sgemm_peak_1thread_gflops", peak1},
                           {"mfu_vs_1thread_peak", achieved / peak1},
                           {"mfu_vs_threads_x_peak", achieved / (peak1 * threads)},
                           {"params", cfg.num_parameters()},
                           {"openblas_core", openblas_core_name()}};
  std::cout << result.dump() << "\n";
  return 0;
}
