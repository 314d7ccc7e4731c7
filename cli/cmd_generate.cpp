// loom generate: continues a prompt with a model directory.
#include <iostream>

#include "commands.h"
#include "loom/core/cpu_setup.h"
#include "loom/tensor/threads.h"
#include "loom/models/generate.h"
#include "loom/models/model_dir.h"

namespace loom::cli {

void setup_generate(CLI::App* sub) {
  struct Args {
    std::string model, prompt;
    GenerateOptions gen;
    bool greedy = false;
    double temperature = -1, top_p = -1;
    int64_t max_new_tokens = -1;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--model", a->model, "model directory")->required();
  sub->add_option("--prompt", a->prompt, "text to continue")->required();
  sub->add_option("--max-new-tokens", a->max_new_tokens, "tokens to generate [default: generation_config.json]");
  sub->add_option("--temperature", a->temperature,
                  "sampling temperature; 0 = greedy [default: generation_config.json]");
  sub->add_option("--top-p", a->top_p, "nucleus sampling mass [default: generation_config.json]");
  sub->add_flag("--greedy", a->greedy, "always take the most likely token");
  sub->add_option("--seed", a->gen.seed, "sampling seed");
  sub->callback([a] {
    warn_if_reference_blas();
    set_compute_threads(0);
    LoadedModel m = load_model_dir(a->model);
    m.model->eval();
    GenerateOptions g = a->gen;
    g.max_new_tokens = a->max_new_tokens >= 0 ? a->max_new_tokens : m.generation.max_new_tokens;
    g.temperature = a->greedy ? 0.0 : a->temperature >= 0 ? a->temperature : m.generation.temperature;
    g.top_p = a->top_p > 0 ? a->top_p : m.generation.top_p;
    std::cout << a->prompt << generate_text(m.model, m.tokenizer, a->prompt, g) << "\n";
  });
}

}  // namespace loom::cli
