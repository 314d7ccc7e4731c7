// loom generate: continues a prompt with a model directory.
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/param_schema.h"
#include "loom/models/generate.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/threads.h"

namespace loom::cli {

namespace {

struct GenerateCommandOptions {
  std::string model, prompt;
  // Negative: the model directory's generation_config.json decides.
  int64_t max_new_tokens = -1;
  double temperature = -1, top_p = -1;
  bool greedy = false;
  uint64_t seed = 0;
  int threads = 0;
};

const ParamSchema<GenerateCommandOptions>& generate_schema() {
  using O = GenerateCommandOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("model", &O::model, "model directory")
        .add("prompt", &O::prompt, "text to continue")
        .add("max_new_tokens", &O::max_new_tokens, "tokens to generate; -1 = generation_config.json", {-1, 1 << 20})
        .add("temperature", &O::temperature, "sampling temperature; 0 = greedy; -1 = generation_config.json", {-1, 100})
        .add("top_p", &O::top_p, "nucleus sampling mass in (0, 1]; -1 = generation_config.json", {-1, 1})
        .add("greedy", &O::greedy, "always take the most likely token")
        .add("seed", &O::seed, "sampling seed", {0, 1e15})
        .add("threads", &O::threads, "compute threads; 0 = all cores", {0, 1024});
    return s;
  }();
  return schema;
}

}  // namespace

void setup_generate(CLI::App* sub) {
  run_with_options<GenerateCommandOptions>(sub, generate_schema(), [](const GenerateCommandOptions& o) {
    if (o.model.empty()) throw Error("--model is required");
    if (o.prompt.empty()) throw Error("--prompt is required");
    if (o.top_p == 0) throw Error("--top-p must lie in (0, 1]");
    warn_if_reference_blas();
    set_compute_threads(o.threads);
    LoadedModel m = load_model_dir(o.model);
    m.model->eval();
    GenerateOptions g;
    g.seed = o.seed;
    g.max_new_tokens = o.max_new_tokens >= 0 ? o.max_new_tokens : m.generation.max_new_tokens;
    g.temperature = o.greedy ? 0.0 : o.temperature >= 0 ? o.temperature : m.generation.temperature;
    g.top_p = o.top_p > 0 ? o.top_p : m.generation.top_p;
    std::cout << o.prompt << generate_text(*m.model, m.tokenizer, o.prompt, g) << "\n";
  });
}

}  // namespace loom::cli
