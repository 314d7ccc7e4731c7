// Tokenised training examples from JSONL: {"text": ...} for language modelling,
// {"prompt": ..., "completion": ...} for supervised tuning (prompt tokens are
// not trained on), or pre-tokenised {"input_ids": [...]}. Deterministic shuffling and train/validation split.
//
//   loom::DatasetOptions opts{.max_seq_len = 256};
//   auto examples = loom::load_jsonl_examples("train.jsonl", tokenizer, opts);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loom {

class Tokenizer;

struct Example {
  std::vector<int32_t> tokens;
  // target[t] = 1 when token t is predicted (trained on) from tokens[0..t-1].
  std::vector<uint8_t> target;
  size_t size() const { return tokens.size(); }
  int64_t num_targets() const;
};

enum class OverlongPolicy { Split, Truncate, Error };
enum class EmptyPolicy { Skip, Error };

struct DatasetOptions {
  int64_t max_seq_len = 256;
  OverlongPolicy overlong = OverlongPolicy::Split;  // text rows: split; prompt rows: never split
  EmptyPolicy empty = EmptyPolicy::Error;
  bool add_bos = true;
  bool add_eos = true;
};

OverlongPolicy overlong_policy_from_name(const std::string& name);  // split | truncate | error
EmptyPolicy empty_policy_from_name(const std::string& name);        // skip | error

// Builds an example from raw text or from a prompt/completion pair.
Example make_text_example(const Tokenizer& tok, const std::string& text, const DatasetOptions& opts);
Example make_prompt_example(const Tokenizer& tok, const std::string& prompt, const std::string& completion,
                            const DatasetOptions& opts);

// Reads every row; errors name the file and line. Overlong examples are split
// (text), truncated or rejected per opts; examples with no target are skipped
// or rejected per opts.
std::vector<Example> load_jsonl_examples(const std::string& path, const Tokenizer& tok, const DatasetOptions& opts);

// Applies the overlong/empty policies to already tokenised examples; names[i]
// (e.g. "file.jsonl:12") identifies example i in errors.
std::vector<Example> fit_examples(std::vector<Example> examples, const DatasetOptions& opts,
                                  const std::vector<std::string>& names = {});

// Deterministic permutation of [0, n) for (seed, epoch).
std::vector<size_t> shuffled_indices(size_t n, uint64_t seed, uint64_t epoch);

// Splits off round(n * valid_fraction) examples (at least 1 when n > 1) for validation.
void split_train_valid(std::vector<Example> all, double valid_fraction, uint64_t seed, std::vector<Example>* train,
                       std::vector<Example>* valid);

}  // namespace loom
