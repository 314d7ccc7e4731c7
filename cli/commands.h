// The `loom` program's subcommands: one file per command, listed in one table.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace loom::cli {

struct Command {
  const char* name;
  const char* help;
  void (*setup)(CLI::App* sub);  // adds the command's options and its callback
};

// The program's arguments as given (used to relaunch data-parallel workers).
std::vector<std::string>& program_args();

void setup_data(CLI::App* sub);
void setup_pretrain(CLI::App* sub);
void setup_finetune(CLI::App* sub);
void setup_generate(CLI::App* sub);
void setup_eval(CLI::App* sub);
void setup_bench(CLI::App* sub);
void setup_ot(CLI::App* sub);
void setup_knowledge(CLI::App* sub);
void setup_merge(CLI::App* sub);
void setup_fl(CLI::App* sub);
void setup_tokenize(CLI::App* sub);

inline const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"data", "build the default corpus (fortunes, dictd, licences) into JSONL", setup_data},
      {"pretrain", "train a Llama-architecture model from scratch", setup_pretrain},
      {"finetune", "full-parameter supervised tuning of a model directory", setup_finetune},
      {"generate", "continue a prompt with a model directory", setup_generate},
      {"eval", "loss and perplexity of a model on a JSONL file", setup_eval},
      {"knowledge", "continual knowledge addition: strategies, LoRA/full tuning, retention matrix", setup_knowledge},
      {"merge", "merge models or LoRA adapters (linear, TIES, DARE) or an adapter into its base", setup_merge},
      {"fl", "robust federated learning: aggregators, simulation, gRPC server and parties", setup_fl},
      {"ot", "optimal transport with order constraints", setup_ot},
      {"tokenize", "encode JSONL text with a tokenizer.json into {\"input_ids\"} rows", setup_tokenize},
      {"bench", "benchmarks that compare loom with its baselines", setup_bench},
  };
  return table;
}

}  // namespace loom::cli
