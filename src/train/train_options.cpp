#include "loom/train/train_options.h"

namespace loom {

std::vector<ParamSpec> training_param_specs() {
  using T = ParamType;
  return {
      {"train_data", T::String, "", "training JSONL: {\"text\"} rows, or {\"prompt\",\"completion\"} rows"},
      {"valid_data", T::String, "", "validation JSONL; empty = hold out valid_fraction of train_data"},
      {"valid_fraction", T::Float, "0.02", "share of train_data held out when valid_data is empty"},
      {"init_model", T::String, "", "model directory to start from; empty = a new model (pretrain)"},
      {"tokenizer", T::String, "", "tokenizer.json for a new model; empty = train one on train_data"},
      {"vocab_size", T::Int, "4096", "vocabulary size of a newly trained tokenizer"},
      {"hidden_size", T::Int, "256", "new model: hidden size"},
      {"intermediate_size", T::Int, "688", "new model: SwiGLU inner size"},
      {"num_layers", T::Int, "4", "new model: decoder layers"},
      {"num_heads", T::Int, "4", "new model: attention heads"},
      {"num_kv_heads", T::Int, "4", "new model: key/value heads (grouped-query attention when fewer)"},
      {"tie_embeddings", T::Bool, "false", "new model: share input embedding and output projection"},
      {"rope_theta", T::Float, "10000", "new model: rotary embedding base"},
      {"max_seq_len", T::Int, "256", "longest example in tokens"},
      {"overlong", T::String, "split", "what to do with longer examples", {"split", "truncate", "error"}},
      {"empty", T::String, "error", "what to do with examples that have no trained token", {"skip", "error"}},
      {"packing",
       T::String,
       "padding_free",
       "none: pad to longest; naive: concatenate under one causal mask (contaminates, comparison only); "
       "padding_free: concatenate with per-example attention; bin: offline best-fit packing",
       {"none", "naive", "padding_free", "bin"}},
      {"bin_tokens", T::Int, "0", "token budget of a bin (packing=bin); 0 = micro_batch_size * max_seq_len"},
      {"tuning",
       T::String,
       "full",
       "full: every weight trains; lora: LoRA adapters on a frozen base",
       {"full", "lora"}},
      {"lora_r", T::Int, "8", "LoRA rank"},
      {"lora_alpha", T::Float, "16", "LoRA alpha (scaling alpha/r)"},
      {"lora_dropout", T::Float, "0.05", "dropout on the LoRA path's input"},
      {"lora_targets", T::String, "all",
       "projections that get adapters, comma-separated (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj) or "
       "all"},
      {"max_steps", T::Int, "100", "optimizer steps"},
      {"micro_batch_size", T::Int, "8", "examples per forward/backward"},
      {"grad_accum", T::Int, "1", "micro-batches per optimizer step (per process)"},
      {"lr", T::Float, "3e-4", "peak learning rate"},
      {"min_lr_ratio", T::Float, "0.1", "final learning rate as a fraction of the peak (cosine)"},
      {"warmup_steps", T::Int, "10", "linear warmup steps"},
      {"weight_decay", T::Float, "0.1", "AdamW decoupled weight decay (matrices only)"},
      {"beta1", T::Float, "0.9", "AdamW beta1"},
      {"beta2", T::Float, "0.95", "AdamW beta2"},
      {"grad_clip", T::Float, "1.0", "global gradient-norm clip; 0 = off"},
      {"seed", T::Int, "0", "seed for initialisation and data order"},
      {"threads", T::Int, "1",
       "threads per process; 0 = all cores. 1 is fastest on the 2-core reference machine (see docs/core.md); "
       "use nproc to occupy more cores"},
      {"log_every", T::Int, "10", "steps between metric lines"},
      {"eval_every", T::Int, "50", "steps between validation losses; 0 = only at the end"},
      {"eval_max_batches", T::Int, "20", "validation micro-batches per evaluation; 0 = all"},
      {"checkpoint_every", T::Int, "50", "steps between checkpoints; 0 = only at the end"},
      {"keep_checkpoints", T::Int, "2", "checkpoints kept on disk"},
      {"sample_prompt", T::String, "", "text to continue after training (printed)"},
      {"sample_tokens", T::Int, "40", "tokens generated for sample_prompt"},
      {"progress", T::Bool, "true", "show a progress bar on a terminal"},
      {"nproc", T::Int, "1", "data-parallel processes to launch on this machine"},
      {"rank", T::Int, "0", "this process's rank (multi-host runs)"},
      {"world_size", T::Int, "1", "total processes (multi-host runs)"},
      {"master_addr", T::String, "127.0.0.1", "address of rank 0 (TCPStore rendezvous)"},
      {"master_port", T::Int, "29517", "port of rank 0's TCPStore"},
      {"interface", T::String, "", "network interface Gloo binds to (multi-host); empty = automatic"},
  };
}

TrainOptions TrainOptions::from_params(const Params& p) {
  TrainOptions o;
  o.train_data = p.get_string("train_data");
  o.valid_data = p.get_string("valid_data");
  o.valid_fraction = p.get_float("valid_fraction");
  o.dataset.max_seq_len = p.get_int("max_seq_len");
  o.dataset.overlong = overlong_policy_from_name(p.get_string("overlong"));
  o.dataset.empty = empty_policy_from_name(p.get_string("empty"));
  o.packing = packing_from_name(p.get_string("packing"));
  o.bin_tokens = p.get_int("bin_tokens");
  o.use_lora = p.get_string("tuning") == "lora";
  o.lora.r = p.get_int("lora_r");
  o.lora.alpha = p.get_float("lora_alpha");
  o.lora.dropout = p.get_float("lora_dropout");
  o.lora.target_modules = parse_lora_targets(p.get_string("lora_targets"), "lora_targets");
  o.lora.validate("LoRA settings");
  o.max_steps = p.get_int("max_steps");
  o.micro_batch_size = p.get_int("micro_batch_size");
  o.grad_accum = p.get_int("grad_accum");
  o.lr = p.get_float("lr");
  o.min_lr_ratio = p.get_float("min_lr_ratio");
  o.warmup_steps = p.get_int("warmup_steps");
  o.weight_decay = p.get_float("weight_decay");
  o.beta1 = p.get_float("beta1");
  o.beta2 = p.get_float("beta2");
  o.grad_clip = p.get_float("grad_clip");
  o.seed = static_cast<uint64_t>(p.get_int("seed"));
  o.threads = static_cast<int>(p.get_int("threads"));
  o.log_every = p.get_int("log_every");
  o.eval_every = p.get_int("eval_every");
  o.eval_max_batches = p.get_int("eval_max_batches");
  o.checkpoint_every = p.get_int("checkpoint_every");
  o.keep_checkpoints = p.get_int("keep_checkpoints");
  o.sample_prompt = p.get_string("sample_prompt");
  o.sample_tokens = p.get_int("sample_tokens");
  o.progress = p.get_bool("progress");
  return o;
}

}  // namespace loom
