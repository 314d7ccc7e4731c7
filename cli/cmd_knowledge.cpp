// loom knowledge run|compare|strategies|domains: continual knowledge addition
// (see docs/knowledge.md).
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/knowledge/harness.h"
#include "loom/tensor/threads.h"

namespace loom::cli {
namespace {

struct KnowledgeArgs {
  std::string out;
};

// The resolved parameters and options of a run or compare; false when
// --dump-config only asked for the merged configuration.
bool prepare_run(const ParamFlags& flags, const std::string& out, Params* params, KnowledgeOptions* options) {
  *params = flags.resolve();
  if (flags.dump_requested()) {
    std::cout << params->dump_yaml();
    return false;
  }
  *options = knowledge_options_from_params(*params);
  if (out.empty()) throw Error("--out is required");
  warn_if_reference_blas();
  set_compute_threads(options->train.threads);
  make_dirs(out);
  write_file_atomic(out + "/config.yaml", params->dump_yaml());
  return true;
}

void setup_run(CLI::App* sub) {
  auto a = std::make_shared<KnowledgeArgs>();
  auto flags = std::make_shared<ParamFlags>(sub, knowledge_param_specs());
  sub->add_option("--out", a->out, "run directory: results.json, matrix.csv, heatmap.png, curves.png, round-N/");
  sub->callback([a, flags] {
    Params p({});
    KnowledgeOptions o;
    if (!prepare_run(*flags, a->out, &p, &o)) return;
    nlohmann::json r = run_knowledge(o, a->out);
    std::cout << nlohmann::json({{"summary", r["summary"]}, {"matrix", r["matrix"]}, {"domains", r["domains"]}}).dump()
              << "\n";
  });
}

void setup_compare(CLI::App* sub) {
  auto a = std::make_shared<KnowledgeArgs>();
  auto flags = std::make_shared<ParamFlags>(sub, knowledge_param_specs());
  sub->add_option("--out", a->out, "directory: one sub-directory per run, compare.json, compare.md");
  sub->callback([a, flags] {
    Params p({});
    KnowledgeOptions o;
    if (!prepare_run(*flags, a->out, &p, &o)) return;
    std::vector<Tuning> tunings;
    for (const auto& t : o.tunings) tunings.push_back(tuning_from_name(t, "tunings"));
    std::vector<uint64_t> seeds;
    for (const auto& s : o.seeds) {
      try {
        seeds.push_back(std::stoull(s));
      } catch (const std::exception&) {
        throw Error("seeds: '" + s + "' is not a non-negative integer");
      }
    }
    const auto& strategies = o.strategies;
    if (strategies.empty() || tunings.empty() || seeds.empty())
      throw Error("strategies, tunings and seeds must each list at least one value");
    std::cout << compare_knowledge(o, strategies, tunings, seeds, a->out);
  });
}

}  // namespace

void setup_knowledge(CLI::App* sub) {
  sub->require_subcommand(1);
  setup_run(sub->add_subcommand("run", "add a sequence of domains under one strategy and tuning mode"));
  setup_compare(sub->add_subcommand("compare", "run several strategies x tunings x seeds and print one table"));
  sub->add_subcommand("strategies", "list the registered strategies")->callback([] {
    for (const auto& [name, entry] : strategies().entries()) std::cout << name << "\t" << entry.help << "\n";
  });
  sub->add_subcommand("domains", "list the built-in domains")->callback([] {
    for (const auto& name : builtin_domain_names()) std::cout << name << "\n";
  });
}

}  // namespace loom::cli
