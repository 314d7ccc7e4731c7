// The `loom` program's subcommands: one file per command, listed in one table.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace loom::cli {

// The `loom` program ships as two executables built from these sources: a
// torch-free front end (`loom`, starts in milliseconds) that runs the
// torch-free commands itself and hands every other command to `loom-torch`
// beside it, and `loom-torch`, which has them all. A command's setup
// function is declared with LOOM_COMMAND; in the front end the torch
// commands' functions are not linked and read as null.
#ifdef LOOM_FRONT_END
#define LOOM_COMMAND(name) void name(CLI::App* sub) __attribute__((weak))
#else
#define LOOM_COMMAND(name) void name(CLI::App* sub)
#endif

struct Command {
  const char* name;
  const char* help;
  void (*setup)(CLI::App* sub);  // adds the command's options and its callback
  bool torch_free = false;       // runs in the front end without loading LibTorch
};

// The program's arguments as given (used to relaunch data-parallel workers).
std::vector<std::string>& program_args();

LOOM_COMMAND(setup_data);
LOOM_COMMAND(setup_pretrain);
LOOM_COMMAND(setup_finetune);
LOOM_COMMAND(setup_generate);
LOOM_COMMAND(setup_eval);
LOOM_COMMAND(setup_bench);
LOOM_COMMAND(setup_ot);
LOOM_COMMAND(setup_knowledge);
LOOM_COMMAND(setup_merge);
LOOM_COMMAND(setup_fl);
LOOM_COMMAND(setup_moe);
LOOM_COMMAND(setup_tokenize);
LOOM_COMMAND(setup_supernet);
LOOM_COMMAND(setup_np);
LOOM_COMMAND(setup_marl);
LOOM_COMMAND(setup_mtrl);
LOOM_COMMAND(setup_tofa);

inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"data", "build the default corpus (fortunes, dictd, licences) into JSONL", setup_data, true},
      {"pretrain", "train a Llama-architecture model from scratch", setup_pretrain},
      {"finetune", "full-parameter supervised tuning of a model directory", setup_finetune},
      {"generate", "continue a prompt with a model directory", setup_generate},
      {"eval", "loss and perplexity of a model on a JSONL file", setup_eval},
      {"knowledge", "continual knowledge addition: strategies, LoRA/full tuning, retention matrix", setup_knowledge},
      {"merge", "merge models or LoRA adapters (linear, TIES, DARE) or an adapter into its base", setup_merge},
      {"moe", "mixtures of domain experts: mix models, blend adapters, train routers, score domains", setup_moe},
      {"fl", "robust federated learning: aggregators, simulation, gRPC server and parties", setup_fl},
      {"ot", "optimal transport with order constraints", setup_ot, true},
      {"supernet", "MLFS supernets: elastic transformers, LoRA stages, distillation, search, extraction",
       setup_supernet},
      {"tofa", "TOFA: one semi-supervised CNN supernet, a subnet per device budget, no fine-tuning", setup_tofa},
      {"tokenize", "encode JSONL text with a tokenizer.json into {\"input_ids\"} rows", setup_tokenize, true},
      {"np", "neural-progressive hedging: RL policies that meet constraints at execution time", setup_np},
      {"marl", "decentralised multi-agent actor-critic with critic consensus over a time-varying graph", setup_marl},
      {"mtrl", "permutation-invariant multi-task RL: one allocation policy for every resource subset", setup_mtrl},
      {"bench", "benchmarks that compare loom with its baselines", setup_bench},
  };
  return table;
}

}  // namespace loom::cli
