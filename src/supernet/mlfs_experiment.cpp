#include "loom/supernet/mlfs_experiment.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/plot.h"
#include "loom/models/model_dir.h"
#include "loom/supernet/distill.h"
#include "loom/supernet/extract.h"
#include "loom/supernet/importance.h"

namespace loom {
namespace fs = std::filesystem;

const ParamSchema<MlfsExperimentOptions>& mlfs_experiment_schema() {
  using O = MlfsExperimentOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.include<MlfsOptions>(mlfs_options_schema(), [](O& o) -> MlfsOptions& { return o.mlfs; })
        .add("seeds", &O::seeds, "seeds; each trains its own teacher, supernets and baselines")
        .add("size_fractions", &O::size_fractions, "parameter budgets, as fractions of the teacher's parameters")
        .add("ablations", &O::ablations, "variants of the main options (see `loom supernet ablations`)")
        .add("gamma_grid", &O::gamma_grid, "gradient-scaling exponents tried on seed 0; the best on validation is used")
        .add("cost_counts", &O::cost_counts, "numbers of delivered subnets in the cost table (seed 0); empty = none")
        .add("baselines", &O::baselines, "train the per-size baselines (scratch, prune + distil)")
        .add("baseline_alpha", &O::baseline_alpha, "KD weight of the prune + distil baseline", {0, 1})
        .add("init_fraction", &O::init_fraction, "decoders: size of the slicing-vs-random subnet (of the teacher)",
             {0.01, 1})
        .add("init_steps", &O::init_steps, "decoders: training steps of the slicing-vs-random runs", {1, 1e9})
        .add("init_eval_every", &O::init_eval_every, "decoders: steps between validation losses", {1, 1e9})
        .include<SearchOptions>(search_options_schema(), [](O& o) -> SearchOptions& { return o.search; });
    return s;
  }();
  return schema;
}

namespace {

void register_all_ablations(Registry<MlfsAblation>& r) {
  r.add("single_stage", {"no width-only stage 1: stage 2 alone, with both stages' steps",
                         [](MlfsOptions& o) { o.multistage = false; }});
  r.add("gamma0", {"no gradient scaling (gamma = 0)", [](MlfsOptions& o) { o.distill.gamma = 0; }});
  r.add("no_reorder", {"first-k slices of the teacher as it is, without importance reordering",
                       [](MlfsOptions& o) { o.importance_reorder = false; }});
  r.add("full_weights", {"all super-weights train (no shared LoRA); the teacher is not frozen",
                         [](MlfsOptions& o) { o.tuning = SupernetTuning::Full; }});
  r.add("no_kd", {"no distillation (alpha = beta = 0): every subnet learns from the labels alone", [](MlfsOptions& o) {
                    o.distill.alpha = 0;
                    o.distill.beta = 0;
                  }});
}

}  // namespace

Registry<MlfsAblation>& mlfs_ablations() {
  static Registry<MlfsAblation> registry("MLFS ablation", register_all_ablations);
  return registry;
}

TransformerSpec probe_spec(ElasticTransformerImpl& model, const ElasticSpace& space, DepthRule rule,
                           double max_params) {
  const auto& genes = space.genes();
  const int hidden = space.index_of("hidden_size"), depth = space.index_of("depth");
  std::vector<int64_t> heads_choices, ffn_choices;
  for (const auto& g : genes) {
    if (g.name.rfind("heads", 0) == 0) heads_choices = g.choices;
    if (g.name.rfind("ffn", 0) == 0) ffn_choices = g.choices;
  }
  bool found = false;
  TransformerSpec best;
  int64_t best_params = -1;
  for (int64_t d : genes[static_cast<size_t>(hidden)].choices)
    for (int64_t k : genes[static_cast<size_t>(depth)].choices)
      for (int64_t h : heads_choices)
        for (int64_t f : ffn_choices) {
          Genome g = space.largest();
          for (size_t i = 0; i < genes.size(); ++i) {
            const std::string& n = genes[i].name;
            if (static_cast<int>(i) == hidden) g[i] = d;
            if (static_cast<int>(i) == depth) g[i] = k;
            if (n.rfind("heads", 0) == 0) g[i] = h;
            if (n.rfind("ffn", 0) == 0) g[i] = f;
          }
          TransformerSpec s = transformer_spec_of(space, g, model.shape(), rule);
          const int64_t p = model.parameter_count(s);
          if (p > max_params) continue;
          if (p > best_params || (p == best_params && s.layers.size() > best.layers.size())) {
            best = s;
            best_params = p;
            found = true;
          }
        }
  if (!found) throw Error("no subnet with the same shape in every layer fits params=" + shortest_decimal(max_params));
  return best;
}

namespace {

std::vector<double> parse_doubles(const std::vector<std::string>& items, const std::string& key) {
  std::vector<double> out;
  for (const auto& item : items) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v))
      throw Error(key + ": '" + item + "' is not a number");
    out.push_back(v);
  }
  return out;
}

std::vector<uint64_t> parse_seeds(const std::vector<std::string>& items) {
  std::vector<uint64_t> out;
  for (const auto& s : items) {
    try {
      size_t used = 0;
      out.push_back(std::stoull(s, &used));
      if (used != s.size()) throw std::invalid_argument(s);
    } catch (const std::exception&) {
      throw Error("seeds: '" + s + "' is not a non-negative integer");
    }
  }
  if (out.empty()) throw Error("seeds: at least one seed is needed");
  return out;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

// mean ± sample standard deviation of a list.
struct Spread {
  double mean = 0, std = 0;
  size_t n = 0;
};
Spread spread_of(const std::vector<double>& v) {
  Spread s;
  s.n = v.size();
  if (v.empty()) return s;
  for (double x : v) s.mean += x / static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.std += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(s.std / static_cast<double>(v.size() - 1));
  }
  return s;
}
std::string show(const Spread& s, int digits) {
  if (s.n == 0) return "—";
  return fixed(s.mean, digits) + " ± " + fixed(s.std, digits);
}

// The score a table reports: accuracy for classification, loss for LM.
double headline(TaskKind kind, const TaskScore& s) { return kind == TaskKind::Classify ? s.accuracy : s.loss; }

// A dense model as an elastic transformer: extraction writes uniform
// decoder subnets as plain llama models.
ElasticTransformer as_elastic(const CausalLM& model, const std::string& origin) {
  if (model->model_type() == "llama") return elastic_from_llama(*as_llama(model, origin));
  return ElasticTransformer(as_elastic_transformer(model, origin));
}

ElasticTransformer load_elastic(const std::string& dir) { return as_elastic(load_model_dir(dir).model, dir); }

struct DenseResult {
  TaskScore valid, test;
  double cpu_seconds = 0;
  nlohmann::json curve = nlohmann::json::array();  // {step, valid_loss, cpu_seconds}
};

// Trains every weight of `student` on the task, distilling `teacher`'s
// logits with weight alpha when given.
DenseResult train_dense(ElasticTransformer& student, ElasticTransformerImpl* teacher, const TransformerTaskData& data,
                        const MlfsOptions& o, const LoopOptions& loop, double alpha, int64_t eval_every,
                        uint64_t seed) {
  for (auto& p : student->parameters()) p.set_requires_grad(true);
  const TransformerSpec full = student->full_spec();
  StepBatches batches(data.train.size(), loop.batch_size, seed);
  DenseResult result;
  int64_t steps_done = 0;
  double eval_cpu = 0;
  const double cpu0 = process_cpu_seconds();
  auto step_fn = [&](int64_t step) {
    TaskBatch b = task_batch(data.train, batches.batch(step), 0);
    SubnetPass p = transformer_pass(*student, o.task, full, b, {true, false}, LayerMapping::Same);
    torch::Tensor loss = p.task_loss;
    if (teacher && alpha > 0) {
      torch::Tensor teacher_logits;
      {
        torch::NoGradGuard no_grad;
        teacher_logits = transformer_pass(*teacher, o.task, teacher->full_spec(), b, {}, LayerMapping::Same).logits;
      }
      loss = (1 - alpha) * loss + alpha * kd_kl_sum(p.logits, teacher_logits, o.distill.temperature) / p.kd_rows;
    }
    loss.backward();
    steps_done = step + 1;
    return nlohmann::json{{"loss", loss.item<double>()}};
  };
  std::function<nlohmann::json()> evaluate;
  if (eval_every > 0)
    evaluate = [&] {
      const double start = process_cpu_seconds();
      const double trained = start - cpu0 - eval_cpu;  // training CPU so far, evaluations excluded
      TaskScore v = evaluate_subnet(*student, o.task, full, data.valid, o.eval_batch_size);
      eval_cpu += process_cpu_seconds() - start;
      result.curve.push_back({{"step", steps_done}, {"valid_loss", v.loss}, {"cpu_seconds", trained}});
      return nlohmann::json{{"valid_loss", v.loss}};
    };
  LoopResult r = run_training_loop(loop, *student, "", false, step_fn, evaluate, eval_every);
  result.cpu_seconds = r.cpu_seconds - eval_cpu;
  result.valid = evaluate_subnet(*student, o.task, full, data.valid, o.eval_batch_size);
  result.test = evaluate_subnet(*student, o.task, full, data.test, o.eval_batch_size);
  return result;
}

std::vector<BatchTensors> calibration_of(const TransformerTaskData& data, const MlfsOptions& o) {
  std::vector<BatchTensors> out;
  const size_t n = std::min(data.train.size(), static_cast<size_t>(o.calibration_examples));
  for (size_t begin = 0; begin < n; begin += static_cast<size_t>(o.eval_batch_size)) {
    std::vector<size_t> idx;
    for (size_t i = begin; i < std::min(n, begin + static_cast<size_t>(o.eval_batch_size)); ++i) idx.push_back(i);
    out.push_back(task_batch(data.train, idx, 0).tensors);
  }
  return out;
}

double stage_cpu(const nlohmann::json& report, int from_stage) {
  double cpu = 0;
  for (const auto& st : report["stages"])
    if (st.value("stage", 0) >= from_stage) cpu += st.value("cpu_seconds", 0.0);
  return cpu;
}

// Validation (or test) scores of a supernet's probe subnets.
std::vector<TaskScore> score_probes(Supernet& s, const std::vector<TransformerSpec>& probes, bool test) {
  std::vector<TaskScore> out;
  for (const auto& spec : probes)
    out.push_back(
        evaluate_subnet(*s.model, s.options.task, spec, test ? s.data.test : s.data.valid, s.options.eval_batch_size));
  return out;
}

void plot_size_curves(const std::string& out, const nlohmann::json& table, TaskKind kind) {
  // One data file per method: params, mean, std.
  std::string script = "set terminal pngcairo size 900,560; set output '" + out +
                       "/size.png'; set grid; set key left top;"
                       " set logscale x; set xlabel 'parameters'; set ylabel '" +
                       std::string(kind == TaskKind::Classify ? "test accuracy" : "test loss (nats/token)") +
                       "'; plot ";
  bool first = true;
  for (const auto& [method, rows] : table.items()) {
    std::string data;
    for (const auto& r : rows)
      data += std::to_string(r["params"].get<double>()) + " " + std::to_string(r["mean"].get<double>()) + " " +
              std::to_string(r["std"].get<double>()) + "\n";
    write_file_atomic(out + "/size-" + method + ".dat", data);
    script += std::string(first ? "" : ", ") + "'" + out + "/size-" + method +
              ".dat' using 1:2:3 with yerrorlines title '" + method + "'";
    first = false;
  }
  run_gnuplot(script, "MLFS size plot");
}

}  // namespace

nlohmann::json run_mlfs_experiment(const MlfsExperimentOptions& x, const std::string& out) {
  register_supernet_model_families();
  make_dirs(out);
  write_file_atomic(out + "/config.yaml", Params(mlfs_experiment_schema().specs(x)).dump_yaml());
  const auto seeds = parse_seeds(x.seeds);
  const auto fractions = parse_doubles(x.size_fractions, "size_fractions");
  const auto gamma_grid = parse_doubles(x.gamma_grid, "gamma_grid");
  const auto cost_counts = parse_doubles(x.cost_counts, "cost_counts");
  for (const auto& a : x.ablations) mlfs_ablations().get(a, "ablations");
  const TaskKind kind = x.mlfs.task;
  const bool classify = kind == TaskKind::Classify;
  const int digits = 3;
  const LoopOptions baseline_loop = [&] {
    LoopOptions l = x.mlfs.stage2;
    l.steps = x.mlfs.stage1.steps + x.mlfs.stage2.steps;
    l.lr = x.mlfs.stage0.lr;
    l.weight_decay = x.mlfs.stage0.weight_decay;
    return l;
  }();

  nlohmann::json results = {{"task", classify ? "classify" : "lm"}, {"seeds", nlohmann::json::array()}};
  double gamma = x.mlfs.distill.gamma;
  // method -> per probe index -> values over seeds
  std::map<std::string, std::vector<std::vector<double>>> probe_scores;
  std::vector<double> probe_params;
  std::map<std::string, std::vector<double>> searched_scores, searched_params;

  for (size_t si = 0; si < seeds.size(); ++si) {
    const uint64_t seed = seeds[si];
    const std::string sdir = out + "/seed-" + std::to_string(seed);
    nlohmann::json sres = {{"seed", seed}};
    MlfsOptions base = x.mlfs;
    base.seed = seed;
    // Stage 0 once per seed: every variant and baseline starts from this teacher.
    nlohmann::json teacher_report = train_mlfs(base, sdir + "/teacher", /*resume=*/true, /*last_stage=*/0);
    sres["teacher"] = teacher_report;
    MlfsOptions variant = base;
    variant.teacher = sdir + "/teacher/stage-0/model";
    variant.stage0.steps = 0;
    ElasticTransformer teacher = load_elastic(variant.teacher);
    teacher->eval();
    Tokenizer tok = load_model_dir(variant.teacher).tokenizer;
    const TransformerTaskData data = mlfs_task_data(variant, tok);
    const ElasticSpace space = transformer_space(teacher->shape(), variant.space, "search space");
    const double teacher_params = static_cast<double>(teacher->parameter_count(teacher->full_spec()));
    std::vector<TransformerSpec> probes;
    for (double f : fractions)
      probes.push_back(probe_spec(*teacher, space, variant.space.depth_rule, f * teacher_params));
    if (si == 0)
      for (const auto& p : probes) probe_params.push_back(static_cast<double>(teacher->parameter_count(p)));
    sres["probes"] = nlohmann::json::array();
    for (const auto& p : probes) sres["probes"].push_back(p.to_json());
    const TaskScore teacher_test =
        evaluate_subnet(*teacher, kind, teacher->full_spec(), data.test, base.eval_batch_size);
    sres["teacher_test"] = teacher_test.to_json();
    sres["teacher_params"] = teacher_params;
    probe_scores["teacher"].resize(1);
    probe_scores["teacher"][0].push_back(headline(kind, teacher_test));

    auto run_variant = [&](const std::string& name, MlfsOptions v) {
      const std::string dir = sdir + "/" + name;
      nlohmann::json report = train_mlfs(v, dir, /*resume=*/true);
      return std::make_pair(dir, report);
    };
    // γ on seed 0's validation score, averaged over the probe subnets.
    if (si == 0 && !gamma_grid.empty()) {
      nlohmann::json tuning = nlohmann::json::array();
      double best = -1e300;
      for (double g : gamma_grid) {
        MlfsOptions v = variant;
        v.distill.gamma = g;
        auto [dir, report] = run_variant("gamma-" + shortest_decimal(g), v);
        Supernet s = load_supernet(dir);
        double score = 0;
        for (const auto& t : score_probes(s, probes, false))
          score += (classify ? t.accuracy : -t.loss) / static_cast<double>(probes.size());
        tuning.push_back({{"gamma", g}, {"valid_score", score}});
        if (score > best) {
          best = score;
          gamma = g;
        }
      }
      results["gamma_tuning"] = tuning;
      results["gamma"] = gamma;
    }
    variant.distill.gamma = gamma;
    const std::string main_name =
        si == 0 && !gamma_grid.empty() ? "gamma-" + shortest_decimal(gamma) : std::string("mlfs");
    auto [main_dir, main_report] = run_variant(main_name, variant);
    sres["mlfs"] = main_report;
    Supernet s = load_supernet(main_dir);
    auto record_probes = [&](const std::string& method, const std::vector<TaskScore>& scores) {
      auto& table = probe_scores[method];
      table.resize(scores.size());
      nlohmann::json rows = nlohmann::json::array();
      for (size_t i = 0; i < scores.size(); ++i) {
        table[i].push_back(headline(kind, scores[i]));
        rows.push_back(scores[i].to_json());
      }
      sres["probe_" + method] = rows;
    };
    record_probes("mlfs", score_probes(s, probes, true));

    // Searched subnets, extracted, reloaded and scored as dense models.
    nlohmann::json searched = nlohmann::json::array();
    for (size_t i = 0; i < fractions.size(); ++i) {
      const std::vector<Budget> budgets = {{CostMetric::Params, fractions[i] * teacher_params}};
      const double cpu0 = process_cpu_seconds();
      SubnetChoice c = search_subnet(s, budgets, x.search, nullptr);
      const std::string dir = sdir + "/subnets/" + shortest_decimal(fractions[i]);
      extract_subnet_dir(s, c.spec, dir);
      const double cpu = process_cpu_seconds() - cpu0;
      ElasticTransformer dense = load_elastic(dir);
      const TaskScore test = evaluate_subnet(*dense, kind, dense->full_spec(), data.test, base.eval_batch_size);
      searched.push_back({{"fraction", fractions[i]},
                          {"choice", c.to_json()},
                          {"test", test.to_json()},
                          {"search_extract_cpu_seconds", cpu},
                          {"dir", dir}});
      searched_scores[shortest_decimal(fractions[i])].push_back(headline(kind, test));
      searched_params[shortest_decimal(fractions[i])].push_back(c.cost.params);
    }
    sres["searched"] = searched;

    for (const auto& a : x.ablations) {
      MlfsOptions v = variant;
      mlfs_ablations().get(a).apply(v);
      // A variant identical to a run of the gamma grid resumes that run's directory.
      const bool in_grid = si == 0 && a == "gamma0" && std::count(gamma_grid.begin(), gamma_grid.end(), 0.0) > 0;
      auto [dir, report] = run_variant(in_grid ? "gamma-0" : a, v);
      Supernet sa = load_supernet(dir);
      record_probes(a, score_probes(sa, probes, true));
    }

    if (x.baselines) {
      ElasticTransformer reordered = load_elastic(variant.teacher);
      reorder_by_importance(*reordered, calibration_of(data, variant));
      reordered->eval();
      nlohmann::json scratch_rows = nlohmann::json::array(), sliced_rows = nlohmann::json::array();
      std::vector<TaskScore> scratch_scores, sliced_scores;
      for (const auto& spec : probes) {
        ElasticTransformer random_init = as_elastic(extract_transformer(*teacher, spec), "scratch");
        random_init->reset_parameters(seed + 1000);
        DenseResult r0 = train_dense(random_init, nullptr, data, variant, baseline_loop, 0, 0, seed);
        scratch_scores.push_back(r0.test);
        const double prune0 = process_cpu_seconds();
        ElasticTransformer sliced = as_elastic(extract_transformer(*reordered, spec), "sliced");
        const double prune_cpu = process_cpu_seconds() - prune0;
        DenseResult r1 = train_dense(sliced, teacher.get(), data, variant, baseline_loop, x.baseline_alpha, 0, seed);
        sliced_scores.push_back(r1.test);
        scratch_rows.push_back({{"test", r0.test.to_json()}, {"cpu_seconds", r0.cpu_seconds}});
        sliced_rows.push_back({{"test", r1.test.to_json()}, {"cpu_seconds", r1.cpu_seconds + prune_cpu}});
      }
      record_probes("scratch", scratch_scores);
      record_probes("prune_distil", sliced_scores);
      sres["scratch"] = scratch_rows;
      sres["prune_distil"] = sliced_rows;
    }

    if (!classify) {
      // Slicing the teacher vs random initialisation, 2/3 size.
      const TransformerSpec spec =
          probe_spec(*teacher, space, variant.space.depth_rule, x.init_fraction * teacher_params);
      LoopOptions loop = baseline_loop;
      loop.steps = x.init_steps;
      ElasticTransformer reordered = load_elastic(variant.teacher);
      reorder_by_importance(*reordered, calibration_of(data, variant));
      ElasticTransformer sliced = as_elastic(extract_transformer(*reordered, spec), "sliced");
      ElasticTransformer random_init = as_elastic(extract_transformer(*teacher, spec), "random");
      random_init->reset_parameters(seed + 2000);
      DenseResult rs = train_dense(sliced, nullptr, data, variant, loop, 0, x.init_eval_every, seed);
      DenseResult rr = train_dense(random_init, nullptr, data, variant, loop, 0, x.init_eval_every, seed);
      const double target = rr.curve.back()["valid_loss"].get<double>();
      auto reach = [&](const nlohmann::json& curve) -> nlohmann::json {
        for (const auto& p : curve)
          if (p["valid_loss"].get<double>() <= target) return p;
        return nullptr;
      };
      sres["init"] = {{"spec", spec.to_json()},
                      {"params", teacher->parameter_count(spec)},
                      {"target_valid_loss", target},
                      {"sliced", {{"curve", rs.curve}, {"reached", reach(rs.curve)}, {"test", rs.test.to_json()}}},
                      {"random", {{"curve", rr.curve}, {"reached", reach(rr.curve)}, {"test", rr.test.to_json()}}}};
    }

    if (si == 0 && !cost_counts.empty() && x.baselines) {
      // Nested size sets: N = 16 spreads evenly from the smallest probe's
      // fraction (the smallest subnet is often above 0.2 of the teacher
      // when embeddings dominate) to 0.95; smaller N take evenly spaced
      // members of it.
      const int64_t n_max = static_cast<int64_t>(*std::max_element(cost_counts.begin(), cost_counts.end()));
      const double low = *std::min_element(fractions.begin(), fractions.end());
      std::vector<double> sizes;
      for (int64_t i = 0; i < n_max; ++i)
        sizes.push_back(n_max == 1 ? 0.5
                                   : low + (0.95 - low) * static_cast<double>(i) / static_cast<double>(n_max - 1));
      ElasticTransformer reordered = load_elastic(variant.teacher);
      const double reorder0 = process_cpu_seconds();
      reorder_by_importance(*reordered, calibration_of(data, variant));
      const double reorder_cpu = process_cpu_seconds() - reorder0;
      reordered->eval();
      std::vector<double> mlfs_cpu, base_cpu, mlfs_score, base_score;
      for (double f : sizes) {
        const double c0 = process_cpu_seconds();
        SubnetChoice c = search_subnet(s, {{CostMetric::Params, f * teacher_params}}, x.search, nullptr);
        CausalLM dense = extract_transformer(*s.model, c.spec);
        mlfs_cpu.push_back(process_cpu_seconds() - c0);
        ElasticTransformer de = as_elastic(dense, "subnet");
        mlfs_score.push_back(
            headline(kind, evaluate_subnet(*de, kind, de->full_spec(), data.test, base.eval_batch_size)));
        const TransformerSpec spec = probe_spec(*teacher, space, variant.space.depth_rule, f * teacher_params);
        const double p0 = process_cpu_seconds();
        ElasticTransformer sliced = as_elastic(extract_transformer(*reordered, spec), "sliced");
        const double prune_cpu = process_cpu_seconds() - p0;
        DenseResult r = train_dense(sliced, teacher.get(), data, variant, baseline_loop, x.baseline_alpha, 0, seed);
        base_cpu.push_back(prune_cpu + r.cpu_seconds);
        base_score.push_back(headline(kind, r.test));
      }
      const double supernet_cpu = stage_cpu(main_report, 1);
      nlohmann::json rows = nlohmann::json::array();
      for (double count : cost_counts) {
        const int64_t n = static_cast<int64_t>(count);
        double m = supernet_cpu, b = reorder_cpu, ms = 0, bs = 0;
        for (int64_t k = 0; k < n; ++k) {
          const size_t i = n == 1 ? static_cast<size_t>(n_max / 2) : static_cast<size_t>(k * (n_max - 1) / (n - 1));
          m += mlfs_cpu[i];
          b += base_cpu[i];
          ms += mlfs_score[i] / static_cast<double>(n);
          bs += base_score[i] / static_cast<double>(n);
        }
        rows.push_back({{"subnets", n},
                        {"mlfs_cpu_seconds", m},
                        {"baseline_cpu_seconds", b},
                        {"mlfs_mean_score", ms},
                        {"baseline_mean_score", bs}});
      }
      results["cost"] = {{"supernet_cpu_seconds", supernet_cpu},
                         {"teacher_cpu_seconds", stage_cpu(teacher_report, 0)},
                         {"sizes", sizes},
                         {"rows", rows}};
    }
    results["seeds"].push_back(sres);
    write_file_atomic(out + "/results.json", results.dump(2));
  }

  // ---- tables ----
  std::ostringstream md;
  const std::string metric = classify ? "test accuracy" : "test loss (nats/token)";
  md << "| subnet (of teacher params) | params |";
  std::vector<std::string> methods = {"mlfs"};
  for (const auto& a : x.ablations) methods.push_back(a);
  if (x.baselines) {
    methods.push_back("scratch");
    methods.push_back("prune_distil");
  }
  for (const auto& m : methods) md << " " << m << " |";
  md << "\n|---|---|";
  for (size_t i = 0; i < methods.size(); ++i) md << "---|";
  md << "\n";
  nlohmann::json plot_table;
  for (size_t i = 0; i < fractions.size(); ++i) {
    md << "| " << fixed(fractions[i], 2) << " | " << static_cast<int64_t>(probe_params[i]) << " |";
    for (const auto& m : methods) {
      Spread sp = spread_of(probe_scores[m][i]);
      md << " " << show(sp, digits) << " |";
      plot_table[m].push_back({{"params", probe_params[i]}, {"mean", sp.mean}, {"std", sp.std}});
    }
    md << "\n";
  }
  const Spread teacher_spread = spread_of(probe_scores["teacher"][0]);
  md << "\nTeacher (" << static_cast<int64_t>(results["seeds"][0]["teacher_params"].get<double>())
     << " params): " << show(teacher_spread, digits) << " " << metric << ".\n\n";
  md << "| budget (of teacher params) | searched subnet params | MLFS searched, extracted, reloaded |\n|---|---|---|\n";
  for (double f : fractions) {
    const std::string key = shortest_decimal(f);
    md << "| " << fixed(f, 2) << " | " << static_cast<int64_t>(spread_of(searched_params[key]).mean) << " | "
       << show(spread_of(searched_scores[key]), digits) << " |\n";
  }
  if (results.contains("cost")) {
    md << "\n| subnets delivered | MLFS CPU s | prune + distil CPU s | MLFS mean " << metric
       << " | baseline mean |\n|---|---|---|---|---|\n";
    for (const auto& r : results["cost"]["rows"])
      md << "| " << r["subnets"].get<int64_t>() << " | " << fixed(r["mlfs_cpu_seconds"].get<double>(), 1) << " | "
         << fixed(r["baseline_cpu_seconds"].get<double>(), 1) << " | " << fixed(r["mlfs_mean_score"].get<double>(), 3)
         << " | " << fixed(r["baseline_mean_score"].get<double>(), 3) << " |\n";
  }
  if (results.contains("gamma_tuning")) {
    md << "\n| gamma | seed-0 validation score (mean over probes) |\n|---|---|\n";
    for (const auto& r : results["gamma_tuning"])
      md << "| " << shortest_decimal(r["gamma"].get<double>()) << " | " << fixed(r["valid_score"].get<double>(), 4)
         << " |\n";
  }
  if (!classify) {
    md << "\n| seed | 2/3 subnet params | target valid loss | sliced: steps | sliced: CPU s | random: steps | random: "
          "CPU "
          "s |\n|---|---|---|---|---|---|---|\n";
    for (const auto& sres : results["seeds"]) {
      const auto& init = sres["init"];
      auto cell = [&](const nlohmann::json& reached, const char* key) {
        return reached.is_null()            ? std::string("not reached")
               : std::string(key) == "step" ? std::to_string(reached["step"].get<int64_t>())
                                            : fixed(reached["cpu_seconds"].get<double>(), 1);
      };
      md << "| " << sres["seed"].get<uint64_t>() << " | " << init["params"].get<int64_t>() << " | "
         << fixed(init["target_valid_loss"].get<double>(), 3) << " | " << cell(init["sliced"]["reached"], "step")
         << " | " << cell(init["sliced"]["reached"], "cpu") << " | " << cell(init["random"]["reached"], "step") << " | "
         << cell(init["random"]["reached"], "cpu") << " |\n";
    }
  }
  write_file_atomic(out + "/results.md", md.str());
  plot_size_curves(out, plot_table, kind);
  results["table_markdown"] = md.str();
  write_file_atomic(out + "/results.json", results.dump(2));
  return results;
}

}  // namespace loom
