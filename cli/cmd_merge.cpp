// loom merge: merge models or adapters described in YAML (mergekit's
// layout, see docs/knowledge.md), or merge one adapter into its base
// (PEFT's merge_and_unload).
#include <iostream>

#include "commands.h"
#include "loom/adapters/lora.h"
#include "loom/core/error.h"
#include "loom/merge/merge.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/threads.h"

namespace loom::cli {

void setup_merge(CLI::App* sub) {
  struct Args {
    std::string config, base, adapter, out;
    bool dump = false;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--config", a->config, "YAML merge description (mergekit-style; see docs/knowledge.md)");
  sub->add_flag("--dump-config", a->dump, "print the merge description as loom reads it (defaults filled in) and exit");
  sub->add_option("--base", a->base, "with --adapter: the base model directory");
  sub->add_option("--adapter", a->adapter, "merge this PEFT adapter into --base (merge_and_unload)");
  sub->add_option("--out", a->out, "output model directory");
  sub->add_option("--threads", a->threads, "compute threads; 0 = all cores");
  sub->callback([a] {
    if (!a->config.empty() == !a->adapter.empty()) throw Error("give either --config FILE or --base DIR --adapter DIR");
    if (a->dump) {
      if (a->config.empty()) throw Error("--dump-config needs --config FILE");
      std::cout << MergeSpec::load(a->config).to_yaml();
      return;
    }
    if (a->out.empty()) throw Error("--out is required");
    set_compute_threads(a->threads);
    if (!a->adapter.empty()) {
      if (a->base.empty()) throw Error("--adapter needs --base");
      LoadedModel m = load_model_dir(a->base);
      apply_peft_adapter(*m.model, load_peft_adapter(a->adapter));
      merge_lora(*m.model);
      save_model_dir(a->out, *m.model, m.tokenizer, m.generation);
      return;
    }
    MergeSpec spec = MergeSpec::load(a->config);
    PeftAdapter merged_adapter;
    CausalLM model = run_merge(spec, &merged_adapter);
    LoadedModel base = load_model_dir(spec.base_model);
    save_model_dir(a->out, *model, base.tokenizer, base.generation);
    if (!merged_adapter.tensors.empty()) save_peft_adapter(a->out + "/adapter", merged_adapter);
    std::cerr << "loom: merged " << spec.sources.size() << " source(s) with " << spec.options.method << " into "
              << a->out << "\n";
  });
}

}  // namespace loom::cli
