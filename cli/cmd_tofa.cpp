// loom tofa train|select|export|eval|experiment: one semi-supervised elastic
// CNN supernet trained once on a small target set, a subnet per device budget
// chosen at deployment with no fine-tuning (docs/tofa.md).
#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/supernet/latency_table.h"
#include "loom/supernet/tofa.h"
#include "loom/supernet/tofa_experiment.h"
#include "loom/tensor/eval_mode.h"
#include "loom/tensor/threads.h"

namespace loom::cli {
namespace {

// The latency table of a run: RUN/latency.json, for this machine at the run's thread count.
LatencyTable run_latency_table(const std::string& run_dir, const TofaOptions& o) {
  return LatencyTable(run_dir + "/latency.json", this_machine(static_cast<int>(o.threads)));
}

void setup_tofa_train(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "run directory (supernet, predictor, latency table)")->required();
  run_with_options<TofaOptions>(sub, tofa_options_schema(), [out](const TofaOptions& o) {
    warn_if_reference_blas();
    set_compute_threads(static_cast<int>(o.threads));
    TofaData data = load_tofa_data(o);
    ElasticCnn net = make_tofa_supernet(o, data.source_classes);
    std::cerr << "pretraining the supernet on " << data.source.size() << " source images\n";
    LoopResult source = train_supernet(*net, data.source, {}, o, o.pretrain, *out + "/source");
    net->reset_head(data.num_classes, o.seed);
    std::cerr << "adapting it to " << data.split.labelled.size() << " labelled and "
              << (data.split.unlabelled.defined() ? data.split.unlabelled.size(0) : 0) << " unlabelled images\n";
    LoopResult target = train_supernet(*net, data.split.labelled, data.split.unlabelled, o, o.adapt, *out + "/target");
    const torch::Tensor calibration = calibration_images(data.split.labelled.images, o);
    std::vector<PredictorSample> samples;
    AccuracyPredictor predictor = fit_tofa_predictor(*net, calibration, data.split.validation, o, &samples);
    LatencyTable table = run_latency_table(*out, o);
    measure_latency_table(*net, table);  // once; `select` and `export` only look entries up
    table.save();
    nlohmann::json report = {{"source_cpu_seconds", source.cpu_seconds},
                             {"target_cpu_seconds", target.cpu_seconds},
                             {"predictor_samples", samples.size()},
                             {"largest_validation_accuracy", samples.front().accuracy},
                             {"smallest_validation_accuracy", samples[1].accuracy}};
    save_tofa_run(*out, *net, o, predictor, report);
    std::cout << report.dump() << "\n";
  });
}

struct SelectArgs {
  std::string run, budget, out;
};

TofaSelection select_for(TofaRun& run, const std::string& run_dir, const std::vector<Budget>& budgets) {
  LatencyTable table = run_latency_table(run_dir, run.options);
  TofaSelection s = select_subnet(*run.net, run.predictor, table, budgets, run.options.search);
  table.save();
  return s;
}

void setup_tofa_select(CLI::App* sub) {
  auto a = std::make_shared<SelectArgs>();
  sub->add_option("--run", a->run, "a `loom tofa train` run directory")->required();
  sub->add_option("--budget", a->budget, "latency_ms=..., flops=... (MACs) or params=..., comma-separated")->required();
  sub->callback([a] {
    const auto budgets = parse_budgets(a->budget, "--budget");  // before anything is loaded
    TofaRun run = load_tofa_run(a->run);
    set_compute_threads(static_cast<int>(run.options.threads));
    TofaSelection s = select_for(run, a->run, budgets);
    std::cout << s.to_json(run.net->space()).dump(2) << "\n";
  });
}

void setup_tofa_export(CLI::App* sub) {
  auto a = std::make_shared<SelectArgs>();
  sub->add_option("--run", a->run, "a `loom tofa train` run directory")->required();
  sub->add_option("--budget", a->budget, "the device budget, as for select")->required();
  sub->add_option("--out", a->out, "model directory to write")->required();
  sub->callback([a] {
    const auto budgets = parse_budgets(a->budget, "--budget");
    TofaRun run = load_tofa_run(a->run);
    set_compute_threads(static_cast<int>(run.options.threads));
    TofaSelection s = select_for(run, a->run, budgets);
    TofaData data = load_tofa_data(run.options);
    run.net->recalibrate_bn(s.genome, calibration_images(data.split.labelled.images, run.options),
                            run.options.calibration_batch);
    StaticCnn model = extract_cnn(*run.net, s.genome);
    nlohmann::json extra = s.to_json(run.net->space());
    extra["budget"] = a->budget;
    extra["run"] = a->run;
    save_image_classifier_dir(a->out, *model, extra);
    std::cout << extra.dump(2) << "\n";
  });
}

void setup_tofa_eval(CLI::App* sub) {
  auto a = std::make_shared<SelectArgs>();
  sub->add_option("--model", a->out, "a model directory written by `loom tofa export`")->required();
  sub->add_option("--run", a->run, "the run whose target test set to use (default: the one the model names)");
  sub->callback([a] {
    // Any image classifier of the model registry loads here (an exported subnet is a loom_tofa_cnn).
    LoadedClassifier loaded = load_image_classifier_dir(a->out);
    ImageClassifierImpl& model = *loaded.model;
    std::string run_dir = a->run;
    if (run_dir.empty()) {
      const auto& config = loaded.config;
      if (!config.contains("extra") || !config["extra"].is_object() || !config["extra"].contains("run") ||
          !config["extra"]["run"].is_string())
        throw Error(a->out + "/config.json: names no run; pass --run");
      run_dir = config["extra"]["run"].get<std::string>();
    }
    TofaRun run = load_tofa_run(run_dir);
    set_compute_threads(static_cast<int>(run.options.threads));
    TofaData data = load_tofa_data(run.options);
    if (model.num_classes() != data.num_classes || model.in_channels() != data.test.images.size(1) ||
        model.image_size() != data.test.images.size(2))
      throw Error(a->out + "/config.json: the model takes [" + std::to_string(model.in_channels()) + ", " +
                  std::to_string(model.image_size()) + "²] images into " + std::to_string(model.num_classes()) +
                  " classes, but " + run_dir + "'s test set has " + std::to_string(data.num_classes) + " classes of [" +
                  std::to_string(data.test.images.size(1)) + ", " + std::to_string(data.test.images.size(2)) +
                  "²] images");
    const double acc = accuracy([&](const torch::Tensor& x) { return model.forward(x); }, data.test);
    const double ms = measure_model_latency_ms(model);
    std::cout << nlohmann::json({{"test_accuracy", acc}, {"test_images", data.test.size()}, {"latency_ms", ms}}).dump()
              << "\n";
  });
}

void setup_tofa_experiment(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "directory for results.json, tables.md and the plot")->required();
  run_with_options<TofaExperimentOptions>(sub, tofa_experiment_schema(), [out](const TofaExperimentOptions& o) {
    warn_if_reference_blas();
    set_compute_threads(static_cast<int>(o.tofa.threads));
    run_tofa_experiment(o, *out);
  });
}

void setup_tofa_report(CLI::App* sub) {
  auto inputs = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  sub->add_option("--inputs", *inputs, "experiment output directories, comma-separated (e.g. one per seed)")
      ->required();
  sub->add_option("--out", *out, "directory for the merged results.json, tables.md and plot")->required();
  sub->callback([inputs, out] {
    nlohmann::json merged = merge_tofa_results(split_list(*inputs));
    std::filesystem::create_directories(*out);
    write_file_atomic(*out + "/results.json", merged.dump(2) + "\n");
    write_tofa_report(merged, *out);
  });
}

}  // namespace

void setup_tofa(CLI::App* sub) {
  register_elastic_cnn_family();  // exported subnets load as loom_tofa_cnn models
  sub->require_subcommand(1);
  setup_tofa_train(sub->add_subcommand("train",
                                       "pretrain on the source task, adapt once with the semi-supervised loss, "
                                       "fit the accuracy predictor and latency table"));
  setup_tofa_select(sub->add_subcommand("select", "the best subnet for a device budget (no fine-tuning)"));
  setup_tofa_export(sub->add_subcommand("export", "select, recalibrate BN and write the subnet as a standalone model"));
  setup_tofa_eval(sub->add_subcommand("eval", "test accuracy and latency of an exported model"));
  setup_tofa_experiment(sub->add_subcommand("experiment", "the docs/tofa.md comparison: TOFA vs OFA-style vs alone"));
  setup_tofa_report(sub->add_subcommand("report", "merge experiment runs (e.g. one per seed) into one report"));
}

}  // namespace loom::cli
