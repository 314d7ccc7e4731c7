#include "loom/train/train_options.h"

namespace loom {

namespace {

template <typename E>
EnumNames<E> names_of(std::initializer_list<std::pair<E, std::string>> items) {
  return EnumNames<E>(items);
}

ParamSchema<TrainOptions> make_schema() {
  using O = TrainOptions;
  ParamSchema<O> s;
  std::string packings;
  for (const auto& [name, collator] : collators().entries())
    packings += (packings.empty() ? "" : "; ") + name + ": " + collator.help;
  s.add("train_data", &O::train_data, "training JSONL: {\"text\"} rows, or {\"prompt\",\"completion\"} rows")
      .add("valid_data", &O::valid_data, "validation JSONL; empty = hold out valid_fraction of train_data")
      .add("valid_fraction", &O::valid_fraction, "share of train_data held out when valid_data is empty", {0, 0.9})
      .add_nested<int64_t>("max_seq_len", [](O& o) -> int64_t& { return o.dataset.max_seq_len; },
                           "longest example in tokens", {1, 1 << 20})
      .add_enum<OverlongPolicy>(
          "overlong", [](O& o) -> OverlongPolicy& { return o.dataset.overlong; },
          names_of<OverlongPolicy>({{OverlongPolicy::Split, "split"},
                                    {OverlongPolicy::Truncate, "truncate"},
                                    {OverlongPolicy::Error, "error"}}),
          "what to do with longer examples")
      .add_enum<EmptyPolicy>(
          "empty", [](O& o) -> EmptyPolicy& { return o.dataset.empty; },
          names_of<EmptyPolicy>({{EmptyPolicy::Skip, "skip"}, {EmptyPolicy::Error, "error"}}),
          "what to do with examples that have no trained token")
      .add_nested<std::string>(
          "packing", [](O& o) -> std::string& { return o.packing.name; }, packings)
      .one_of(collators().names())
      .add("bin_tokens", &O::bin_tokens, "token budget of a bin (packing=bin); 0 = micro_batch_size * max_seq_len",
           {0, 1e9})
      .add("max_steps", &O::max_steps, "optimizer steps", {0, 1e12})
      .add("micro_batch_size", &O::micro_batch_size, "examples per forward/backward", {1, 1 << 20})
      .add("grad_accum", &O::grad_accum, "micro-batches per optimizer step (per process)", {1, 1 << 20})
      .add("lr", &O::lr, "peak learning rate", {0, 100})
      .add("min_lr_ratio", &O::min_lr_ratio, "final learning rate as a fraction of the peak (cosine)", {0, 1})
      .add("warmup_steps", &O::warmup_steps, "linear warmup steps", {0, 1e12})
      .add("weight_decay", &O::weight_decay, "AdamW decoupled weight decay (matrices only)", {0, 100})
      .add("beta1", &O::beta1, "AdamW beta1", {0, 1})
      .add("beta2", &O::beta2, "AdamW beta2", {0, 1})
      .add("grad_clip", &O::grad_clip, "global gradient-norm clip; 0 = off", {0, 1e30})
      .add("seed", &O::seed, "seed for initialisation and data order", {0, 9007199254740992.0})
      .add("fused_cross_entropy", &O::fused_cross_entropy,
           "cross-entropy over the vocabulary in chunks of rows, gradients formed in the forward pass (never the "
           "whole tokens x vocab logits); false = LibTorch's matmul + cross_entropy")
      .add("fused_swiglu", &O::fused_swiglu, "silu(gate) * up and its backward as one pass each")
      .add("fused_rope", &O::fused_rope, "rotary embedding forward and backward as one pass each")
      .add("fused_adamw", &O::fused_adamw,
           "AdamW as one pass per parameter tensor (same state as torch::optim::AdamW); false = AdamW::step")
      .add("threads", &O::threads,
           "threads per process; 0 = all cores. 1 is fastest on the 2-core reference machine (see docs/core.md); "
           "use nproc to occupy more cores",
           {0, 1024})
      .add("log_every", &O::log_every, "steps between metric lines", {1, 1e12})
      .add("eval_every", &O::eval_every, "steps between validation losses; 0 = only at the end", {0, 1e12})
      .add("eval_max_batches", &O::eval_max_batches, "validation micro-batches per evaluation; 0 = all", {0, 1e12})
      .add("checkpoint_every", &O::checkpoint_every, "steps between checkpoints; 0 = only at the end", {0, 1e12})
      .add("keep_checkpoints", &O::keep_checkpoints, "checkpoints kept on disk", {1, 1000})
      .add("sample_prompt", &O::sample_prompt, "text to continue after training (printed)")
      .add("sample_tokens", &O::sample_tokens, "tokens generated for sample_prompt", {0, 1 << 20})
      .add("progress", &O::progress, "show a progress bar on a terminal");
  return s;
}

}  // namespace

const ParamSchema<TrainOptions>& train_options_schema() {
  static const ParamSchema<TrainOptions> schema = make_schema();
  return schema;
}

}  // namespace loom
