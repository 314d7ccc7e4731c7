// loom bench packing: the collators side by side on three length
// distributions (FLAN-like, OrcaMath-like, the default corpus), one process
// per run so that peak resident memory is each run's own. Reports real-token
// throughput, peak RSS, padding fraction and validation-loss curves, and runs
// the same padded baseline in plain PyTorch (bench/packing_baseline.py).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include "loom/core/subprocess.h"
#include "loom/core/tokenizer.h"
#include "loom/models/llama/llama.h"
#include "loom/tensor/threads.h"
#include "loom/train/trainer.h"

namespace loom::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The benchmark's two model sizes: d = 128 (2 layers), where attention's
// share of the work is large, and the quickstart's 5M-parameter model
// (d = 256, 4 layers, FFN 688), where the matmuls dominate.
struct BenchModel {
  int64_t hidden, intermediate, layers;
};

BenchModel bench_model(int64_t hidden) {
  if (hidden == 128) return {128, 341, 2};
  if (hidden == 256) return {256, 688, 4};
  throw Error("bench packing: model width " + std::to_string(hidden) + " is not one of 128, 256");
}

int64_t model_width(const std::string& text) {
  if (text == "128" || text == "256") return std::stoll(text);
  throw Error("bench packing: model width '" + text + "' is not one of 128, 256");
}

struct BenchSettings {
  int64_t steps, micro_batch, max_len, eval_every, examples;
};

BenchSettings settings(bool quick) {
  // Quick: fewer steps and examples, for a smoke run in about a minute.
  return quick ? BenchSettings{6, 16, 512, 3, 300} : BenchSettings{24, 16, 512, 4, 800};
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

// The examples every run of one length distribution trains and validates on.
struct BenchData {
  Tokenizer tok;
  std::vector<Example> train, valid;
};

BenchData bench_data(const std::string& dist, const BenchSettings& s, const std::string& corpus_path) {
  TokenizerTrainOptions topts;
  topts.vocab_size = 259;  // byte-level: lengths are exact and need no training
  BenchData d{Tokenizer::train({}, topts), {}, {}};
  std::string text = corpus_text(corpus_path);
  d.train = make_examples(text, sample_lengths(dist, corpus_path, s.examples, s.max_len, 1), d.tok);
  d.valid = make_examples(text.substr(text.size() / 2), sample_lengths(dist, corpus_path, 64, s.max_len, 2), d.tok);
  return d;
}

TrainOptions bench_train_options(const std::string& packing_mode, const BenchSettings& s) {
  TrainOptions o;
  o.packing = packing_from_name(packing_mode);
  o.micro_batch_size = s.micro_batch;
  o.max_steps = s.steps;
  o.warmup_steps = 2;
  o.lr = 1e-3;
  o.dataset.max_seq_len = s.max_len;
  return o;
}

// The micro-batches a run with `packing_mode` trains on, in order, as the
// example indices of each step.
std::vector<std::vector<size_t>> planned_batches(const BenchData& d, const TrainOptions& o, const BenchSettings& s) {
  DataCursor plan(&d.train, o.packing, s.micro_batch, s.micro_batch * s.max_len, o.seed);
  std::vector<std::vector<size_t>> steps;
  for (int64_t i = 0; i < s.steps; ++i) steps.push_back(plan.next());
  return steps;
}

// One run in this process: train `steps` steps with one collator, log validation.
nlohmann::json run_one(const std::string& dist, const std::string& packing_mode, int64_t hidden, bool quick,
                       const std::string& corpus_path) {
  const BenchSettings s = settings(quick);
  const BenchModel m = bench_model(hidden);
  set_compute_threads(1);
  BenchData d = bench_data(dist, s, corpus_path);
  LlamaConfig cfg;
  cfg.vocab_size = 259;
  cfg.hidden_size = m.hidden;
  cfg.intermediate_size = m.intermediate;
  cfg.num_hidden_layers = m.layers;
  cfg.num_attention_heads = 4;
  cfg.num_key_value_heads = 4;
  cfg.max_position_embeddings = s.max_len * s.micro_batch;  // naive packing runs positions on
  LlamaForCausalLM model(cfg);
  model->reset_parameters(7);
  const TrainOptions o = bench_train_options(packing_mode, s);
  auto comm = Communicator::create({});
  Trainer trainer(o, model.ptr(), d.tok, d.train, d.valid, comm.get(), "");
  // Padding fraction of exactly the micro-batches this run trains on.
  int64_t real = 0, total = 0;
  for (const auto& step : planned_batches(d, o, s)) {
    std::vector<const Example*> group;
    for (size_t k : step) group.push_back(&d.train[k]);
    PackedBatch b = collate(group, o.packing, d.tok.pad_id());
    real += b.num_real_tokens;
    total += b.num_tokens();
  }
  nlohmann::json curve = nlohmann::json::array();
  double train_seconds = 0;
  for (int64_t step = 1; step <= s.steps; ++step) {
    // The timer holds the whole step: drawing the micro-batch, collating it,
    // forward, backward, clipping, the optimizer (the baseline's timer holds
    // the same: building its padded tensors from the token lists included).
    auto start = Clock::now();
    trainer.train_step();
    train_seconds += std::chrono::duration<double>(Clock::now() - start).count();
    if (step % s.eval_every == 0 || step == s.steps)
      curve.push_back({{"step", step}, {"val_loss", evaluate_loss(*model, d.valid, d.tok.pad_id(), 16).loss}});
  }
  return {{"dist", dist},
          {"packing", packing_mode},
          {"hidden", hidden},
          {"real_tokens_per_s", static_cast<double>(real) / train_seconds},
          {"padding_fraction", 1.0 - static_cast<double>(real) / static_cast<double>(total)},
          {"peak_rss_mb", static_cast<double>(peak_rss_kb()) / 1024.0},
          {"steps", s.steps},
          {"val_curve", curve}};
}

// The token lists of the micro-batches that `none` trains on, step by step,
// for the PyTorch baseline: it pads and trains on exactly these batches.
void write_baseline_batches(const std::string& dist, bool quick, const std::string& corpus_path,
                            const std::string& path) {
  const BenchSettings s = settings(quick);
  BenchData d = bench_data(dist, s, corpus_path);
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& step : planned_batches(d, bench_train_options("none", s), s)) {
    nlohmann::json batch = nlohmann::json::array();
    for (size_t k : step) batch.push_back(d.train[k].tokens);
    steps.push_back(std::move(batch));
  }
  write_file_atomic(path, steps.dump());
}

// Every run, loom's and the baseline's, gets the same thread settings: one
// LibTorch thread (set inside) and single-threaded BLAS/OpenMP pools.
const EnvVars kOneThreadEnv = {{"OPENBLAS_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}, {"MKL_NUM_THREADS", "1"}};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// "median [min-max]" over the repeats.
std::string spread_text(const std::vector<double>& v, const char* format) {
  char med[64], lo[64], hi[64];
  std::snprintf(med, sizeof(med), format, median_of(v));
  std::snprintf(lo, sizeof(lo), format, *std::min_element(v.begin(), v.end()));
  std::snprintf(hi, sizeof(hi), format, *std::max_element(v.begin(), v.end()));
  return v.size() > 1 ? std::string(med) + " [" + lo + "–" + hi + "]" : std::string(med);
}

struct PackingBenchOptions {
  bool quick = false;
  std::string run_one, corpus = "data/corpus/train.jsonl", out;
  std::vector<std::string> models = {"128", "256"};  // widths, see bench_model()
  int64_t repeats = 3;
  bool resume = false;
};

void run_all(const PackingBenchOptions& o) {
  const std::vector<std::string> dists = {"flan", "orca", "corpus"};
  std::vector<nlohmann::json> rows;
  const std::string results = o.out.empty() ? "" : o.out + "/packing-results.jsonl";
  // A cut run keeps every finished run: rows are rewritten after each one,
  // and --resume reruns only the combinations that are missing.
  if (o.resume && !results.empty() && fs::exists(results))
    for_each_jsonl(results, [&](const nlohmann::json& row, size_t line) {
      const std::string where = results + ":" + std::to_string(line);
      for (const char* key : {"repeat", "hidden"})
        if (!row.contains(key) || !row[key].is_number_integer())
          throw Error(where + ": `" + key + "` is not an integer");
      for (const char* key : {"dist", "packing"}) jsonl_string_field(row, key, results, line);
      for (const char* key : {"real_tokens_per_s", "peak_rss_mb", "padding_fraction"})
        if (!row.contains(key) || !row[key].is_number()) throw Error(where + ": `" + key + "` is not a number");
      if (row.value("quick", !o.quick) != o.quick)
        throw Error(where + ": a run of the other configuration (quick " + (o.quick ? "false" : "true") +
                    "): resume needs the same --quick");
      rows.push_back(row);
    });
  const std::vector<std::string> modes = {"none", "padding_free", "bin", "naive"};
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string quick = o.quick ? "true" : "false";
  const std::string baseline = "bench/packing_baseline.py";
  const bool have_baseline = fs::exists(baseline) && fs::exists("/usr/bin/python3");
  if (!have_baseline) std::cerr << "bench packing: no " << baseline << " or /usr/bin/python3: PyTorch rows skipped\n";
  std::string scratch_template = (fs::temp_directory_path() / "loom_bench_packing.XXXXXX").string();
  if (!::mkdtemp(scratch_template.data())) throw Error(scratch_template + ": cannot create a temporary directory");
  const std::string scratch = scratch_template;
  // The baseline trains on exactly the micro-batches of loom's `none` run.
  if (have_baseline)
    for (const auto& d : dists) write_baseline_batches(d, o.quick, o.corpus, scratch + "/" + d + ".json");
  if (!results.empty()) make_dirs(o.out);
  auto have = [&](int64_t repeat, int64_t hidden, const std::string& d, const std::string& mode) {
    return std::any_of(rows.begin(), rows.end(), [&](const nlohmann::json& r) {
      return r["repeat"] == repeat && r["hidden"] == hidden && r["dist"] == d && r["packing"] == mode;
    });
  };
  auto keep = [&](nlohmann::json row, int64_t repeat) {
    row["repeat"] = repeat;
    row["quick"] = o.quick;
    rows.push_back(std::move(row));
    if (!results.empty()) write_jsonl_atomic(results, rows);
  };
  // Repeats are the outer loop, so that a slow spell of a shared machine
  // spreads over every collator instead of landing on one.
  for (int64_t repeat = 0; repeat < o.repeats; ++repeat)
    for (const auto& width : o.models)
      for (const auto& d : dists) {
        const int64_t hidden = model_width(width);
        const BenchModel m = bench_model(hidden);
        for (const auto& mode : modes) {
          // naive is here to show contamination, which the loss curves of
          // d = 128's first repeat show; its one O(T^2) segment per
          // micro-batch costs more than every other run together, so it is
          // neither repeated nor run at d = 256 (its row has no spread).
          if (mode == "naive" && (hidden != 128 || repeat > 0)) continue;
          if (have(repeat, hidden, d, mode)) continue;
          std::cerr << "bench packing: repeat " << repeat + 1 << "/" << o.repeats << ", d=" << hidden << ", " << d
                    << " / " << mode << "\n";
          auto row = nlohmann::json::parse(
              run_capture({self, "bench", "packing", "--run-one", d + ":" + mode + ":" + std::to_string(hidden),
                           "--corpus", o.corpus, "--quick", quick},
                          kOneThreadEnv));
          keep(std::move(row), repeat);
        }
        if (!have_baseline || have(repeat, hidden, d, "pytorch_padded")) continue;
        auto py = nlohmann::json::parse(run_capture(
            {"/usr/bin/python3", baseline, "--batches", scratch + "/" + d + ".json", "--hidden", std::to_string(hidden),
             "--intermediate", std::to_string(m.intermediate), "--layers", std::to_string(m.layers)},
            kOneThreadEnv));
        py["dist"] = d;
        py["hidden"] = hidden;
        keep(std::move(py), repeat);
      }
  fs::remove_all(scratch);
  auto runs = [&](int64_t hidden, const std::string& d, const std::string& mode) {
    std::vector<const nlohmann::json*> out;
    for (const auto& r : rows)
      if (r["hidden"] == hidden && r["dist"] == d && r["packing"] == mode) out.push_back(&r);
    return out;
  };
  // ideal = padded tokens / real tokens of `none`; speed-ups are per repeat
  // (this collator's run over `none`'s run of the same repeat).
  std::cout << "| model | lengths | collator | real tok/s | speed-up vs none | ideal | % of ideal | peak RSS MB | "
               "RSS vs none | padding | final val loss |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  nlohmann::json summary;
  for (const auto& width : o.models)
    for (const auto& d : dists) {
      const int64_t hidden = model_width(width);
      const auto none = runs(hidden, d, "none");
      if (none.empty()) continue;
      const double ideal = 1.0 / (1.0 - (*none[0])["padding_fraction"].get<double>());
      for (const auto& mode : {"none", "padding_free", "bin", "naive", "pytorch_padded"}) {
        const auto these = runs(hidden, d, mode);
        if (these.empty()) continue;
        std::vector<double> tps, speedup, percent, rss, rss_ratio;
        for (const auto* run : these) {
          const auto& r = *run;
          // `none` of the same repeat (rows of a resumed run are not in repeat order).
          const auto same_repeat = std::find_if(none.begin(), none.end(),
                                                [&](const nlohmann::json* n) { return (*n)["repeat"] == r["repeat"]; });
          if (same_repeat == none.end()) continue;  // its repeat's `none` run is missing: no ratio
          const auto& base = **same_repeat;
          tps.push_back(r["real_tokens_per_s"].get<double>());
          speedup.push_back(tps.back() / base["real_tokens_per_s"].get<double>());
          percent.push_back(100 * speedup.back() / ideal);
          rss.push_back(r["peak_rss_mb"].get<double>());
          rss_ratio.push_back(rss.back() / base["peak_rss_mb"].get<double>());
        }
        if (tps.empty()) continue;
        const auto& first = *these[0];
        const std::string loss = first.contains("val_curve")
                                     ? std::to_string(first["val_curve"].back()["val_loss"].get<double>())
                                     : std::string("-");
        std::cout << "| d=" << hidden << " | " << d << " | " << mode << " | " << spread_text(tps, "%.0f") << " | "
                  << spread_text(speedup, "%.2f") << " | " << spread_text({ideal}, "%.2f") << " | "
                  << spread_text(percent, "%.0f") << " % | " << spread_text(rss, "%.0f") << " | "
                  << spread_text(rss_ratio, "%.2f") << " | "
                  << spread_text({100 * first["padding_fraction"].get<double>()}, "%.1f") << " % | " << loss << " |\n";
        if (std::string(mode) == "padding_free")
          summary["d" + std::to_string(hidden)][d] = {
              {"speedup", median_of(speedup)},
              {"speedup_min", *std::min_element(speedup.begin(), speedup.end())},
              {"speedup_max", *std::max_element(speedup.begin(), speedup.end())},
              {"ideal_speedup", ideal},
              {"peak_rss_ratio", median_of(rss_ratio)}};
      }
    }
  if (!o.out.empty()) {
    // Validation curves are seeded and repeat for repeat: the first repeat's.
    std::string csv = "hidden,dist,packing,step,val_loss\n";
    for (const auto& r : rows)
      if (r.contains("val_curve") && r["repeat"] == 0)
        for (const auto& p : r["val_curve"])
          csv += std::to_string(r["hidden"].get<int64_t>()) + "," + r["dist"].get<std::string>() + "," +
                 r["packing"].get<std::string>() + "," + std::to_string(p["step"].get<int64_t>()) + "," +
                 std::to_string(p["val_loss"].get<double>()) + "\n";
    write_file_atomic(o.out + "/packing-val-loss.csv", csv);
  }
  // The headline: FLAN-like lengths, as in the paper's main table, on the
  // first model size.
  const std::string first_model = "d" + o.models.front();
  nlohmann::json line = summary[first_model]["flan"];
  line["per_model"] = summary;
  std::cout << line.dump() << "\n";
}

const ParamSchema<PackingBenchOptions>& packing_bench_schema() {
  using O = PackingBenchOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("quick", &O::quick, "smaller model and fewer steps (about a minute); false = the documented configuration")
        .add("corpus", &O::corpus, "default corpus JSONL (built with `loom data` if missing)")
        .add("out", &O::out, "write packing-results.jsonl and packing-val-loss.csv here")
        .add("models", &O::models, "model widths to run: 128 (2 layers) and/or 256 (the 5M quickstart model, 4 layers)")
        .add("repeats", &O::repeats, "runs of every combination; tables show the median and [min-max]", {1, 100})
        .add("resume", &O::resume, "keep the runs already in OUT/packing-results.jsonl and run only the missing ones")
        .add("run_one", &O::run_one, "internal: DIST:MODE:WIDTH in this process");
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
      const size_t c1 = a->run_one.find(':'), c2 = a->run_one.find(':', c1 + 1);
      if (c1 == std::string::npos || c2 == std::string::npos) throw Error("--run-one expects DIST:MODE:WIDTH");
      std::cout << run_one(a->run_one.substr(0, c1), a->run_one.substr(c1 + 1, c2 - c1 - 1),
                           model_width(a->run_one.substr(c2 + 1)), a->quick, a->corpus)
                       .dump()
                << "\n";
      return;
    }
    if (a->models.empty()) throw Error("--models: give at least one width (128, 256)");
    for (const auto& width : a->models) model_width(width);  // unknown widths fail before any run
    run_all(*a);
  });
}

}  // namespace loom::cli
