// loom bench packing: the collators side by side on three length
// distributions (FLAN-like, OrcaMath-like, the default corpus), one process
// per run so that peak resident memory is each run's own. Reports real-token
// throughput, peak RSS, padding fraction and validation-loss curves, and runs
// the same padded baseline in plain PyTorch (bench/packing_baseline.py).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/corpus.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/core/tokenizer.h"
#include "loom/models/llama/llama.h"
#include "loom/tensor/threads.h"
#include "loom/train/trainer.h"

namespace loom::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchSettings {
  int64_t steps, micro_batch, max_len, hidden, layers, eval_every, examples;
};

BenchSettings settings(bool quick) {
  // Quick: a smaller model and fewer steps, for a smoke run in about a minute.
  return quick ? BenchSettings{6, 16, 512, 128, 2, 3, 300} : BenchSettings{24, 16, 512, 128, 2, 4, 800};
}

// A stream of real text as bytes; examples are windows of it, so the model
// has something learnable whatever the length distribution.
std::string corpus_text(const std::string& path) {
  std::string text;
  for_each_jsonl(path, [&](const nlohmann::json& row, size_t) { text += row.value("text", "") + "\n"; });
  if (text.size() < 100000) throw Error(path + ": corpus too small for the packing benchmark");
  return text;
}

// Example lengths: "flan" many short with a heavy tail (log-normal, median
// ~80), "orca" longer and narrower (normal 350 +- 80), "corpus" the real
// document lengths of the default corpus. All clipped to [8, max_len].
std::vector<int64_t> sample_lengths(const std::string& dist, const std::string& corpus_path, int64_t n, int64_t max_len,
                                    uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> out;
  if (dist == "corpus") {
    for_each_jsonl(corpus_path, [&](const nlohmann::json& row, size_t) {
      if (static_cast<int64_t>(out.size()) < n) out.push_back(static_cast<int64_t>(row.value("text", "").size()) + 2);
    });
  } else {
    std::lognormal_distribution<double> flan(std::log(80.0), 0.9);
    std::normal_distribution<double> orca(350.0, 80.0);
    for (int64_t i = 0; i < n; ++i) out.push_back(static_cast<int64_t>(dist == "flan" ? flan(rng) : orca(rng)));
  }
  for (auto& l : out) l = std::clamp<int64_t>(l, 8, max_len);
  return out;
}

std::vector<Example> make_examples(const std::string& text, const std::vector<int64_t>& lengths, const Tokenizer& tok) {
  std::vector<Example> out;
  size_t cursor = 0;
  for (int64_t len : lengths) {
    if (cursor + static_cast<size_t>(len) >= text.size()) cursor = 0;
    Example e;
    e.tokens.push_back(tok.bos_id());
    for (int64_t i = 1; i < len; ++i)
      e.tokens.push_back(static_cast<unsigned char>(text[cursor + static_cast<size_t>(i)]));
    cursor += static_cast<size_t>(len);
    e.target.assign(e.tokens.size(), 1);
    e.target[0] = 0;
    out.push_back(std::move(e));
  }
  return out;
}

// One run in this process: train `steps` steps with one collator, log validation.
nlohmann::json run_one(const std::string& dist, const std::string& packing_mode, bool quick,
                       const std::string& corpus_path) {
  BenchSettings s = settings(quick);
  set_compute_threads(1);
  TokenizerTrainOptions topts;
  topts.vocab_size = 259;  // byte-level: lengths are exact and need no training
  Tokenizer tok = Tokenizer::train({}, topts);
  std::string text = corpus_text(corpus_path);
  auto train = make_examples(text, sample_lengths(dist, corpus_path, s.examples, s.max_len, 1), tok);
  auto valid = make_examples(text.substr(text.size() / 2), sample_lengths(dist, corpus_path, 64, s.max_len, 2), tok);
  LlamaConfig cfg;
  cfg.vocab_size = 259;
  cfg.hidden_size = s.hidden;
  cfg.intermediate_size = s.hidden * 8 / 3;
  cfg.num_hidden_layers = s.layers;
  cfg.num_attention_heads = 4;
  cfg.num_key_value_heads = 4;
  cfg.max_position_embeddings = s.max_len * s.micro_batch;  // naive packing runs positions on
  LlamaForCausalLM model(cfg);
  model->reset_parameters(7);
  TrainOptions o;
  o.packing = packing_from_name(packing_mode);
  o.micro_batch_size = s.micro_batch;
  o.max_steps = s.steps;
  o.warmup_steps = 2;
  o.lr = 1e-3;
  o.dataset.max_seq_len = s.max_len;
  auto comm = Communicator::create({});
  Trainer trainer(o, model.ptr(), tok, train, valid, comm.get(), "");
  // Padding fraction of exactly the micro-batches this run trains on.
  DataCursor plan(&train, o.packing, s.micro_batch, s.micro_batch * s.max_len, o.seed);
  int64_t real = 0, total = 0;
  for (int64_t i = 0; i < s.steps; ++i) {
    std::vector<const Example*> group;
    for (size_t k : plan.next()) group.push_back(&train[k]);
    PackedBatch b = collate(group, o.packing, tok.pad_id());
    real += b.num_real_tokens;
    total += b.num_tokens();
  }
  nlohmann::json curve = nlohmann::json::array();
  double train_seconds = 0;
  for (int64_t step = 1; step <= s.steps; ++step) {
    auto start = Clock::now();
    trainer.train_step();
    train_seconds += std::chrono::duration<double>(Clock::now() - start).count();
    if (step % s.eval_every == 0 || step == s.steps)
      curve.push_back({{"step", step}, {"val_loss", evaluate_loss(*model, valid, tok.pad_id(), 16).loss}});
  }
  return {{"dist", dist},
          {"packing", packing_mode},
          {"real_tokens_per_s", static_cast<double>(real) / train_seconds},
          {"padding_fraction", 1.0 - static_cast<double>(real) / static_cast<double>(total)},
          {"peak_rss_mb", static_cast<double>(peak_rss_kb()) / 1024.0},
          {"steps", s.steps},
          {"val_curve", curve}};
}

std::string run_child(const std::vector<std::string>& args) {
  std::string out = (fs::temp_directory_path() / ("loom_bench_" + std::to_string(::getpid()) + ".json")).string();
  std::string cmd;
  for (const auto& a : args) cmd += "'" + a + "' ";
  cmd += "> " + out;
  if (std::system(cmd.c_str()) != 0) throw Error("benchmark run failed: " + cmd);
  std::string text = read_file_text(out);
  fs::remove(out);
  return text;
}

void run_all(bool quick, const std::string& corpus_path, const std::string& out_dir) {
  const std::vector<std::string> dists = {"flan", "orca", "corpus"};
  const std::vector<std::string> modes = {"none", "padding_free", "bin", "naive"};
  std::vector<nlohmann::json> rows;
  for (const auto& d : dists) {
    for (const auto& m : modes) {
      std::cerr << "bench packing: " << d << " / " << m << "\n";
      rows.push_back(nlohmann::json::parse(
          run_child({fs::read_symlink("/proc/self/exe").string(), "bench", "packing", "--run-one", d + ":" + m,
                     "--corpus", corpus_path, "--quick", quick ? "true" : "false"})));
    }
    std::string baseline = "bench/packing_baseline.py";
    if (fs::exists(baseline) && fs::exists("/usr/bin/python3")) {
      BenchSettings s = settings(quick);
      nlohmann::json lengths = sample_lengths(d, corpus_path, s.examples, s.max_len, 1);
      std::string lengths_path = (fs::temp_directory_path() / "loom_bench_lengths.json").string();
      write_file_atomic(lengths_path, lengths.dump());
      try {
        auto py = nlohmann::json::parse(
            run_child({"/usr/bin/python3", baseline, "--lengths", lengths_path, "--steps", std::to_string(s.steps),
                       "--batch", std::to_string(s.micro_batch), "--hidden", std::to_string(s.hidden), "--layers",
                       std::to_string(s.layers)}));
        py["dist"] = d;
        rows.push_back(py);
      } catch (const std::exception& e) {
        std::cerr << "bench packing: PyTorch baseline skipped: " << e.what() << "\n";
      }
    }
  }
  auto find = [&](const std::string& d, const std::string& m) -> const nlohmann::json* {
    for (const auto& r : rows)
      if (r["dist"] == d && r["packing"] == m) return &r;
    return nullptr;
  };
  // ideal = padded tokens / real tokens of `none`; "% of ideal" = speed-up / ideal.
  std::cout
      << "| lengths | collator | real tok/s | speed-up vs none | ideal | % of ideal | peak RSS MB | RSS vs none | "
         "padding | final val loss |\n|---|---|---|---|---|---|---|---|---|---|\n";
  nlohmann::json summary;
  for (const auto& d : dists) {
    const auto* none = find(d, "none");
    for (const auto& m : {std::string("none"), std::string("padding_free"), std::string("bin"), std::string("naive"),
                          std::string("pytorch_padded")}) {
      const auto* r = find(d, m);
      if (!r || !none) continue;
      double speedup = (*r)["real_tokens_per_s"].get<double>() / (*none)["real_tokens_per_s"].get<double>();
      double ideal = 1.0 / (1.0 - (*none)["padding_fraction"].get<double>());
      double rss = (*r)["peak_rss_mb"].get<double>() / (*none)["peak_rss_mb"].get<double>();
      std::string loss = r->contains("val_curve") ? std::to_string((*r)["val_curve"].back()["val_loss"].get<double>())
                                                  : std::string("-");
      char line[400];
      std::snprintf(line, sizeof(line), "| %s | %s | %.0f | %.2f | %.2f | %.0f %% | %.0f | %.2f | %.1f %% | %s |\n",
                    d.c_str(), m.c_str(), (*r)["real_tokens_per_s"].get<double>(), speedup, ideal,
                    100 * speedup / ideal, (*r)["peak_rss_mb"].get<double>(), rss,
                    100 * (*r)["padding_fraction"].get<double>(), loss.c_str());
      std::cout << line;
      if (m == "padding_free") summary[d] = {{"speedup", speedup}, {"ideal_speedup", ideal}, {"peak_rss_ratio", rss}};
    }
  }
  if (!out_dir.empty()) {
    make_dirs(out_dir);
    write_jsonl_atomic(out_dir + "/packing-results.jsonl", rows);
    std::string csv = "dist,packing,step,val_loss\n";
    for (const auto& r : rows)
      if (r.contains("val_curve"))
        for (const auto& p : r["val_curve"])
          csv += r["dist"].get<std::string>() + "," + r["packing"].get<std::string>() + "," +
                 std::to_string(p["step"].get<int64_t>()) + "," + std::to_string(p["val_loss"].get<double>()) + "\n";
    write_file_atomic(out_dir + "/packing-val-loss.csv", csv);
  }
  // The headline: FLAN-like lengths, as in the paper's main table.
  nlohmann::json line = summary["flan"];
  line["per_distribution"] = summary;
  std::cout << line.dump() << "\n";
}

}  // namespace

namespace {

struct PackingBenchOptions {
  bool quick = false;
  std::string run_one, corpus = "data/corpus/train.jsonl", out;
};

const ParamSchema<PackingBenchOptions>& packing_bench_schema() {
  using O = PackingBenchOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("quick", &O::quick, "smaller model and fewer steps (about a minute); false = the documented configuration")
        .add("corpus", &O::corpus, "default corpus JSONL (built with `loom data` if missing)")
        .add("out", &O::out, "write packing-results.jsonl and packing-val-loss.csv here")
        .add("run_one", &O::run_one, "internal: DIST:MODE in this process");
    return s;
  }();
  return schema;
}

}  // namespace

void setup_bench(CLI::App* sub) {
  auto packing = sub->add_subcommand("packing", "collators side by side: throughput, memory, padding, loss curves");
  sub->require_subcommand(1);
  run_with_options<PackingBenchOptions>(packing, packing_bench_schema(), [](const PackingBenchOptions& o) {
    const PackingBenchOptions* a = &o;
    if (!fs::exists(a->corpus)) {
      std::string dir = fs::path(a->corpus).parent_path().string();
      build_default_corpus(CorpusOptions{}, dir.empty() ? "." : dir);
    }
    if (!a->run_one.empty()) {
      size_t colon = a->run_one.find(':');
      if (colon == std::string::npos) throw Error("--run-one expects DIST:MODE");
      std::cout << run_one(a->run_one.substr(0, colon), a->run_one.substr(colon + 1), a->quick, a->corpus).dump()
                << "\n";
      return;
    }
    run_all(a->quick, a->corpus, a->out);
  });
}

}  // namespace loom::cli
