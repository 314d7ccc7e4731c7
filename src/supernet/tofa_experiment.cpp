#include "loom/supernet/tofa_experiment.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/plot.h"
#include "loom/supernet/latency_table.h"
#include "loom/tensor/eval_mode.h"

namespace loom {

const ParamSchema<TofaExperimentOptions>& tofa_experiment_schema() {
  using O = TofaExperimentOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.include<TofaOptions>(tofa_options_schema(), [](O& o) -> TofaOptions& { return o.tofa; })
        .add("seeds", &O::seeds, "seeds of the target split, adaptation and baselines (the source supernet is shared)")
        .add("scenarios", &O::scenarios, "latency budgets, evenly spaced from the smallest to the largest subnet",
             {1, 1000})
        .add("scenario_counts", &O::scenario_counts, "numbers of scenarios N in the cost table (at most scenarios)")
        .add("finetune_steps", &O::finetune_steps, "OFA baseline: fine-tuning steps of each scenario's subnet",
             {1, 1e9})
        .add("alone_steps", &O::alone_steps, "training steps of an architecture trained alone", {1, 1e9})
        .add("alone_budgets", &O::alone_budgets, "budgets (of the N = 5 set) that get an alone baseline", {0, 1000})
        .add("detailed_scenarios", &O::detailed_scenarios,
             "scenarios (evenly spaced, nested) scored on test and timed again; all count for cost", {1, 1000});
    return s;
  }();
  return schema;
}

namespace {

std::vector<int64_t> parse_list(const std::vector<std::string>& items, const std::string& key) {
  auto out = parse_int_list(items, key, 0, std::numeric_limits<int64_t>::max(), "a non-negative integer");
  if (out.empty()) throw Error(key + ": empty list");
  return out;
}

// The scenario indices of an N-scenario set: evenly spaced and nested
// (N = 1 is the middle budget; N = 5 contains it; N = all contains both).
std::vector<int64_t> scenario_set(int64_t n, int64_t total) {
  std::vector<int64_t> out;
  for (int64_t j = 0; j < n; ++j) out.push_back(static_cast<int64_t>(std::floor((j + 0.5) * total / n)));
  return out;
}

struct Stat {
  double mean = 0, std = 0;
  int64_t n = 0;
};
Stat stat(const std::vector<double>& v) {
  Stat s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(s.std / static_cast<double>(v.size() - 1)) : 0;
  return s;
}
std::string fmt(const Stat& s, int digits, double scale = 1) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << s.mean * scale << " ± " << s.std * scale;
  return o.str();
}
std::string fmt(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

}  // namespace

void write_tofa_report(const nlohmann::json& result, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  const auto& per_seed = result.at("seeds");
  const int64_t scenarios = result.at("scenarios").get<int64_t>();
  const auto counts = result.at("scenario_counts").get<std::vector<int64_t>>();
  const size_t num_seeds = per_seed.size();
  std::ostringstream md;
  md << "Target: " << result.value("target", std::string("fashion")) << ". ";
  md << "Source supernet pretraining (shared by every method): " << fmt(result["source_cpu"].get<double>(), 1)
     << " CPU s. Latency table: " << result["latency_table_entries"].get<int64_t>() << " entries, measured in "
     << fmt(result["latency_cpu"].get<double>(), 1) << " CPU s (shared). " << scenarios
     << " latency budgets, evenly spaced from the smallest to the largest subnet's table latency.\n\n";

  md << "**Cost against the number of scenarios** (CPU s, mean ± std over " << num_seeds
     << " seeds; training + predictor + per-scenario search, BN recalibration, extraction and, for OFA, "
        "fine-tuning)\n\n";
  md << "| N | TOFA | TOFA N / TOFA 1 | OFA-style | OFA-style N / OFA-style 1 |\n|---|---|---|---|---|\n";
  std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>> costs;
  for (int64_t n : counts) {
    for (const auto& sj : per_seed) {
      double tofa = sj["tofa"]["train_cpu"].get<double>() + sj["tofa"]["predictor_cpu"].get<double>();
      double ofa = sj["tofa_no_u"]["train_cpu"].get<double>() + sj["tofa_no_u"]["predictor_cpu"].get<double>();
      for (int64_t k : scenario_set(n, scenarios)) {
        tofa += sj["tofa"]["scenarios"][static_cast<size_t>(k)]["deploy_cpu"].get<double>();
        const auto& row = sj["tofa_no_u"]["scenarios"][static_cast<size_t>(k)];
        ofa += row["deploy_cpu"].get<double>() + row["ofa_finetune_cpu"].get<double>();
      }
      costs[n].first.push_back(tofa);
      costs[n].second.push_back(ofa);
    }
  }
  const int64_t first = counts.front();
  nlohmann::json cost_json = nlohmann::json::object();
  for (int64_t n : counts) {
    std::vector<double> tofa_ratio, ofa_ratio;
    for (size_t i = 0; i < costs[n].first.size(); ++i) {
      tofa_ratio.push_back(costs[n].first[i] / costs[first].first[i]);
      ofa_ratio.push_back(costs[n].second[i] / costs[first].second[i]);
    }
    md << "| " << n << " | " << fmt(stat(costs[n].first), 1) << " | " << fmt(stat(tofa_ratio), 3) << " | "
       << fmt(stat(costs[n].second), 1) << " | " << fmt(stat(ofa_ratio), 3) << " |\n";
    cost_json[std::to_string(n)] = {{"tofa", costs[n].first}, {"ofa", costs[n].second}};
  }

  {
    // Where a scenario's cost goes (TOFA: search, BN recalibration, extraction).
    std::vector<double> search, calibrate, extract, deploy;
    for (const auto& sj : per_seed)
      for (const auto& row : sj["tofa"]["scenarios"]) {
        search.push_back(row.value("search_cpu", 0.0));
        calibrate.push_back(row.value("calibrate_cpu", 0.0));
        extract.push_back(row.value("extract_cpu", 0.0));
        deploy.push_back(row["deploy_cpu"].get<double>());
      }
    md << "\nTOFA's cost of one scenario (CPU ms, mean ± std over every scenario and seed): search "
       << fmt(stat(search), 1, 1000) << ", BN recalibration " << fmt(stat(calibrate), 1, 1000) << ", extraction "
       << fmt(stat(extract), 1, 1000) << "; in all " << fmt(stat(deploy), 1, 1000) << ".\n";
  }

  md << "\n**Test accuracy of the selected subnets** (the N = 5 budgets; mean ± std over seeds, %)\n\n";
  md << "| budget ms | TOFA | TOFA without unlabelled term | OFA-style (fine-tuned) | trained alone | TOFA measured ms "
        "|\n"
     << "|---|---|---|---|---|---|\n";
  const auto five = scenario_set(std::min<int64_t>(5, scenarios), scenarios);
  std::ofstream plot_data(out_dir + "/accuracy_latency.dat");
  for (int64_t k : five) {
    std::vector<double> t, u, f, a, lat, budget_ms;
    for (const auto& sj : per_seed) {
      const auto& tr = sj["tofa"]["scenarios"][static_cast<size_t>(k)];
      const auto& ur = sj["tofa_no_u"]["scenarios"][static_cast<size_t>(k)];
      t.push_back(tr["test_accuracy"].get<double>());
      u.push_back(ur["test_accuracy"].get<double>());
      f.push_back(ur["ofa_test_accuracy"].get<double>());
      lat.push_back(tr["measured_latency_ms"].get<double>());
      budget_ms.push_back(tr["budget_ms"].get<double>());
      for (const auto& ar : sj["alone"])
        if (ar["scenario"].get<int64_t>() == k) a.push_back(ar["test_accuracy"].get<double>());
    }
    md << "| " << fmt(stat(budget_ms).mean, 3) << " | " << fmt(stat(t), 1, 100) << " | " << fmt(stat(u), 1, 100)
       << " | " << fmt(stat(f), 1, 100) << " | " << (a.empty() ? std::string("—") : fmt(stat(a), 1, 100)) << " | "
       << fmt(stat(lat), 3) << " |\n";
  }
  // The plot: every scenario of every seed.
  for (const char* variant : {"tofa", "tofa_no_u", "ofa"}) {
    plot_data << "# " << variant << "\n";
    for (const auto& sj : per_seed)
      for (const auto& row : sj[std::string(variant) == "ofa" ? "tofa_no_u" : variant]["scenarios"])
        if (row.value("detailed", true))
          plot_data << row["measured_latency_ms"].get<double>() << " "
                    << 100 * row[std::string(variant) == "ofa" ? "ofa_test_accuracy" : "test_accuracy"].get<double>()
                    << "\n";
    plot_data << "\n\n";
  }
  plot_data.close();
  run_gnuplot("set terminal pngcairo size 800,500; set output '" + out_dir +
                  "/accuracy_latency.png'; set xlabel 'measured latency (ms, batch 1)'; set ylabel 'test accuracy "
                  "(%)'; set key bottom right; plot '" +
                  out_dir +
                  "/accuracy_latency.dat' index 0 title 'TOFA' pt 7, '' index 1 title 'TOFA without "
                  "unlabelled term' pt 5, '' index 2 title 'OFA-style (fine-tuned per scenario)' pt 9",
              "the TOFA accuracy-latency plot");

  md << "\n**Selection quality** (TOFA, every scenario of every seed)\n\n";
  std::vector<double> abs_err, met, ratio, search_s, spearman, spearman_chosen, largest, smallest, largest_u;
  for (const auto& sj : per_seed) {
    std::vector<double> predicted, measured;  // the chosen subnets: out of the predictor's sample
    for (const auto& row : sj["tofa"]["scenarios"])
      if (row.value("detailed", true)) {
        predicted.push_back(row["predicted_accuracy"].get<double>());
        measured.push_back(row["validation_accuracy"].get<double>());
      }
    const double rho = spearman_correlation(predicted, measured);  // NaN when either side is constant
    if (std::isfinite(rho)) spearman_chosen.push_back(rho);
    spearman.push_back(sj["tofa"]["predictor_spearman_in_sample"].get<double>());
    largest.push_back(sj["tofa"]["largest_test_accuracy"].get<double>());
    smallest.push_back(sj["tofa"]["smallest_test_accuracy"].get<double>());
    largest_u.push_back(sj["tofa_no_u"]["largest_test_accuracy"].get<double>());
    for (size_t k = 0; k < sj["tofa"]["scenarios"].size(); ++k) {
      const auto& row = sj["tofa"]["scenarios"][k];
      if (!row.value("detailed", true)) continue;
      abs_err.push_back(std::abs(row["predicted_accuracy"].get<double>() - row["validation_accuracy"].get<double>()));
      met.push_back(row["measured_latency_ms"].get<double>() <= row["budget_ms"].get<double>() ? 1.0 : 0.0);
      ratio.push_back(row["measured_latency_ms"].get<double>() / row["table_latency_ms"].get<double>());
      search_s.push_back(row["search_seconds"].get<double>());
    }
  }
  md << "| measure | value |\n|---|---|\n"
     << "| predictor: Spearman ρ on its fitting subnets (validation accuracy) | " << fmt(stat(spearman), 3) << " |\n"
     << "| predictor: Spearman ρ, predicted vs measured validation accuracy of the chosen subnets (out of sample) | "
     << fmt(stat(spearman_chosen), 3) << " |\n"
     << "| |predicted − measured validation accuracy| of the chosen subnets (points) | " << fmt(stat(abs_err), 2, 100)
     << " |\n"
     << "| measured / table latency of the chosen subnets | " << fmt(stat(ratio), 3) << " |\n"
     << "| budgets met when the exported model is timed again | " << fmt(stat(met).mean * 100, 1) << " % of "
     << met.size() << " |\n"
     << "| search wall time per scenario (s) | " << fmt(stat(search_s), 3) << " |\n"
     << "| largest subnet, TOFA / without unlabelled term (test %) | " << fmt(stat(largest), 1, 100) << " / "
     << fmt(stat(largest_u), 1, 100) << " |\n"
     << "| smallest subnet, TOFA (test %) | " << fmt(stat(smallest), 1, 100) << " |\n";

  write_file_atomic(out_dir + "/tables.md", md.str());
  std::cout << md.str();
}

nlohmann::json merge_tofa_results(const std::vector<std::string>& dirs) {
  if (dirs.empty()) throw Error("--inputs: no result directories");
  nlohmann::json merged;
  for (const auto& dir : dirs) {
    nlohmann::json r = read_json_file(dir + "/results.json");
    if (merged.is_null()) {
      merged = r;
      continue;
    }
    if (r.at("scenarios") != merged.at("scenarios") || r.at("scenario_counts") != merged.at("scenario_counts") ||
        r.value("target", "") != merged.value("target", ""))
      throw Error(dir + "/results.json: target or scenarios differ from " + dirs.front() + "/results.json");
    for (const auto& s : r.at("seeds")) merged["seeds"].push_back(s);
    merged["source_cpu_per_input"].push_back(r.at("source_cpu"));
  }
  return merged;
}

nlohmann::json run_tofa_experiment(const TofaExperimentOptions& o, const std::string& out_dir) {
  const auto seeds = parse_list(o.seeds, "seeds");
  const auto counts = parse_list(o.scenario_counts, "scenario_counts");
  for (int64_t n : counts)
    if (n < 1 || n > o.scenarios)
      throw Error("scenario_counts: " + std::to_string(n) + " is not in 1.." + std::to_string(o.scenarios));
  std::filesystem::create_directories(out_dir);
  const TofaOptions& base = o.tofa;
  auto log = [](const std::string& line) { std::cerr << "[tofa] " << line << std::endl; };

  // The source supernet: pretrained once on the source classes, every label;
  // the shared starting point of every method and seed.
  TofaData data0 = load_tofa_data(base);
  ElasticCnn source = make_tofa_supernet(base, data0.source_classes);
  const double source_t0 = process_cpu_seconds();
  train_supernet(*source, data0.source, {}, base, base.pretrain, "");
  const double source_cpu = process_cpu_seconds() - source_t0;
  log("source supernet pretrained in " + fmt(source_cpu, 1) + " CPU s");

  // The latency table: every part configuration measured once, here, and
  // shared by every method, seed and scenario (a per-machine cost, like the
  // source pretraining), so that a scenario's search only looks entries up.
  LatencyTable table("", this_machine(static_cast<int>(base.threads)));
  ElasticCnn probe = make_tofa_supernet(base, data0.num_classes);
  const ElasticSpace& space = probe->space();
  const double lat_t0 = process_cpu_seconds();
  measure_latency_table(*probe, table);
  const double lo = table_cost(*probe, space.smallest(all_gene_kinds()), table).latency_ms;
  const double hi = table_cost(*probe, space.largest(), table).latency_ms;
  std::vector<double> budgets;
  for (int64_t k = 0; k < o.scenarios; ++k)
    budgets.push_back(lo + (hi - lo) * static_cast<double>(k + 1) / static_cast<double>(o.scenarios));
  const double latency_cpu = process_cpu_seconds() - lat_t0;
  log("latency range " + fmt(lo, 3) + " .. " + fmt(hi, 3) + " ms");

  const auto detailed = scenario_set(std::min<int64_t>(o.detailed_scenarios, o.scenarios), o.scenarios);
  nlohmann::json per_seed = nlohmann::json::array();
  for (int64_t seed : seeds) {
    TofaOptions so = base;
    so.seed = static_cast<uint64_t>(seed);
    so.adapt.seed = so.seed;
    TofaData data = load_tofa_data(so);
    const torch::Tensor calibration = calibration_images(data.split.labelled.images, so);
    nlohmann::json seed_json = {{"seed", seed}};
    std::vector<Genome> tofa_choices;

    for (const std::string variant : {"tofa", "tofa_no_u"}) {
      TofaOptions vo = so;
      if (variant == "tofa_no_u") vo.unlabelled_weight = 0;
      ElasticCnn net = make_tofa_supernet(vo, data0.source_classes);
      copy_module_tensors(*net, *source);
      net->reset_head(data.num_classes, so.seed);
      const double t0 = process_cpu_seconds();
      train_supernet(*net, data.split.labelled, data.split.unlabelled, vo, vo.adapt, "");
      const double train_cpu = process_cpu_seconds() - t0;
      const double p0 = process_cpu_seconds();
      std::vector<PredictorSample> samples;
      AccuracyPredictor predictor = fit_tofa_predictor(*net, calibration, data.split.validation, vo, &samples);
      const double predictor_cpu = process_cpu_seconds() - p0;
      std::vector<double> measured, predicted;
      for (const auto& s : samples) {
        measured.push_back(s.accuracy);
        predicted.push_back(predictor.predict(space.features(s.genome)));
      }
      log("seed " + std::to_string(seed) + " " + variant + ": trained in " + fmt(train_cpu, 1) +
          " CPU s, predictor in " + fmt(predictor_cpu, 1) + " CPU s");

      nlohmann::json scenarios = nlohmann::json::array();
      for (int64_t k = 0; k < o.scenarios; ++k) {
        const std::vector<Budget> budget{{CostMetric::LatencyMs, budgets[static_cast<size_t>(k)]}};
        // Deployment of one scenario, timed by phase (where the per-scenario cost goes).
        const int64_t measured_before = table.measured();
        const double s0 = process_cpu_seconds();
        SearchOptions search = vo.search;
        search.seed = so.seed * 7919 + static_cast<uint64_t>(k);
        TofaSelection sel = select_subnet(*net, predictor, table, budget, search);
        const double s1 = process_cpu_seconds();
        net->recalibrate_bn(sel.genome, calibration, vo.calibration_batch);
        const double s2 = process_cpu_seconds();
        StaticCnn model = extract_cnn(*net, sel.genome);
        const double s3 = process_cpu_seconds();
        const double deploy_cpu = s3 - s0;
        if (table.measured() != measured_before)
          throw Error("tofa experiment: a search measured latency-table entries (the table should be complete)");
        nlohmann::json row = {{"budget_ms", budgets[static_cast<size_t>(k)]},
                              {"subnet", space.to_json(sel.genome)},
                              {"table_latency_ms", sel.cost.latency_ms},
                              {"params", sel.cost.params},
                              {"macs", sel.cost.flops},
                              {"predicted_accuracy", sel.predicted_accuracy},
                              {"search_seconds", sel.seconds},
                              {"deploy_cpu", deploy_cpu},
                              {"search_cpu", s1 - s0},
                              {"calibrate_cpu", s2 - s1},
                              {"extract_cpu", s3 - s2}};
        // Scored (test, validation, measured latency) on `detailed` scenarios
        // only; the others count for cost (our sizing for a shared machine).
        const bool scored = std::find(detailed.begin(), detailed.end(), k) != detailed.end();
        row["detailed"] = scored;
        if (scored) {
          row["test_accuracy"] = accuracy([&](const torch::Tensor& x) { return model->forward(x); }, data.test);
          row["validation_accuracy"] =
              accuracy([&](const torch::Tensor& x) { return model->forward(x); }, data.split.validation);
          row["measured_latency_ms"] = measure_model_latency_ms(*model);
        }
        if (variant == "tofa") tofa_choices.push_back(sel.genome);
        if (variant == "tofa_no_u") {
          // The OFA-style baseline: this supervised supernet's choice,
          // fine-tuned on the labels (half the adaptation's peak rate, our choice).
          LoopOptions ft = vo.adapt;
          ft.steps = o.finetune_steps;
          ft.warmup_steps = std::min<int64_t>(ft.warmup_steps, o.finetune_steps / 5);
          ft.lr = vo.adapt.lr * 0.5;
          ft.seed = so.seed * 31 + static_cast<uint64_t>(k);
          const double f0 = process_cpu_seconds();
          train_static(*model, data.split.labelled, vo, ft);
          const double ft_cpu = process_cpu_seconds() - f0;
          row["ofa_finetune_cpu"] = ft_cpu;
          if (scored)
            row["ofa_test_accuracy"] = accuracy([&](const torch::Tensor& x) { return model->forward(x); }, data.test);
        }
        scenarios.push_back(row);
      }
      seed_json[variant] = {
          {"train_cpu", train_cpu},
          {"predictor_cpu", predictor_cpu},
          {"predictor_spearman_in_sample", spearman_correlation(predicted, measured)},
          {"largest_test_accuracy", subnet_accuracy(*net, space.largest(), calibration, data.test, vo)},
          {"smallest_test_accuracy",
           subnet_accuracy(*net, space.smallest(all_gene_kinds()), calibration, data.test, vo)},
          {"scenarios", scenarios}};
      log("seed " + std::to_string(seed) + " " + variant + ": largest " +
          fmt(seed_json[variant]["largest_test_accuracy"].get<double>(), 4) + ", smallest " +
          fmt(seed_json[variant]["smallest_test_accuracy"].get<double>(), 4));
    }

    // The alone baseline: TOFA's chosen architecture, random initialisation, labels only.
    nlohmann::json alone = nlohmann::json::array();
    const auto five = scenario_set(std::min<int64_t>(5, o.scenarios), o.scenarios);
    for (int64_t a = 0; a < std::min<int64_t>(o.alone_budgets, static_cast<int64_t>(five.size())); ++a) {
      const int64_t k = five[static_cast<size_t>(o.alone_budgets == 1 ? static_cast<int64_t>(five.size()) / 2
                                                                      : a * (static_cast<int64_t>(five.size()) - 1) /
                                                                            std::max<int64_t>(1, o.alone_budgets - 1))];
      torch::manual_seed(so.seed + 101);
      ElasticCnn shape_net = make_tofa_supernet(so, data.num_classes);
      StaticCnn model(shape_net->shape_of(tofa_choices[static_cast<size_t>(k)]));
      LoopOptions lo_opts = so.adapt;
      lo_opts.steps = o.alone_steps;
      const double a0 = process_cpu_seconds();
      train_static(*model, data.split.labelled, so, lo_opts);
      alone.push_back(
          {{"scenario", k},
           {"train_cpu", process_cpu_seconds() - a0},
           {"test_accuracy", accuracy([&](const torch::Tensor& x) { return model->forward(x); }, data.test)}});
    }
    seed_json["alone"] = alone;
    per_seed.push_back(seed_json);
  }

  nlohmann::json result = {
      {"target", base.target},      {"source_cpu", source_cpu}, {"latency_table_entries", table.size()},
      {"latency_cpu", latency_cpu}, {"scenarios", o.scenarios}, {"scenario_counts", counts},
      {"seeds", per_seed}};
  write_file_atomic(out_dir + "/results.json", result.dump(2) + "\n");
  write_tofa_report(result, out_dir);
  return result;
}

}  // namespace loom
