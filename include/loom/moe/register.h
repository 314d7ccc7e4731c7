// The moe module's registrations into registries that live below it:
//
//   model families  "mixtral" (Hugging Face's MixtralForCausalLM layout) and
//                   "loom_moe" (every other mixture), so that load_model_dir,
//                   and with it generate, eval, finetune and the knowledge
//                   harness, load mixtures
//   strategies      "moe_mix" (continual knowledge addition by mixing each
//                   round's domain expert with the earlier ones: no old data
//                   needed unless the router is trained)
//
// `models` and `knowledge` cannot depend on `moe` (cmake/layers.txt), so
// their register-all functions cannot list these; a program calls
// register_moe() once, before it reads any model or lists strategies (the
// `loom` CLI does so first thing in main). Idempotent and thread-safe.
//
//   loom::register_moe();
//   auto m = loom::load_model_dir("runs/moe");   // a mixtral or loom_moe directory
#pragma once

namespace loom {

void register_moe();

}  // namespace loom
