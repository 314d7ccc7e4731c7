// Any subnet of an elastic transformer as a standalone dense model, with the
// shared LoRA merged into the sliced weights: a core `llama` model when the
// subnet is a decoder with the same heads and FFN width in every layer
// (loadable by Hugging Face transformers too), otherwise a
// `loom_elastic_llama` / `loom_encoder` model with per-layer sizes. Either
// loads with load_model_dir and reproduces the supernet's logits for that spec.
//
//   loom::CausalLM dense = loom::extract_transformer(*supernet, spec);
//   loom::save_model_dir("out/subnet", *dense, tokenizer);
#pragma once
#include "loom/models/causal_lm.h"
#include "loom/supernet/elastic_transformer.h"

namespace loom {

CausalLM extract_transformer(ElasticTransformerImpl& model, const TransformerSpec& spec);

}  // namespace loom
