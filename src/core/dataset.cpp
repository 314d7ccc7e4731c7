#include "loom/core/dataset.h"

#include <algorithm>
#include <random>

#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/core/tokenizer.h"

namespace loom {

int64_t Example::num_targets() const {
  int64_t n = 0;
  for (uint8_t t : target) n += t;
  return n;
}

OverlongPolicy overlong_policy_from_name(const std::string& name) {
  if (name == "split") return OverlongPolicy::Split;
  if (name == "truncate") return OverlongPolicy::Truncate;
  if (name == "error") return OverlongPolicy::Error;
  throw Error("unknown overlong policy '" + name + "' (valid: split, truncate, error)");
}

EmptyPolicy empty_policy_from_name(const std::string& name) {
  if (name == "skip") return EmptyPolicy::Skip;
  if (name == "error") return EmptyPolicy::Error;
  throw Error("unknown empty-example policy '" + name + "' (valid: skip, error)");
}

Example make_text_example(const Tokenizer& tok, const std::string& text, const DatasetOptions& opts) {
  Example ex;
  ex.tokens = tok.encode(text, opts.add_bos, opts.add_eos);
  ex.target.assign(ex.tokens.size(), 1);
  if (!ex.target.empty()) ex.target[0] = 0;  // nothing predicts the first token
  return ex;
}

Example make_prompt_example(const Tokenizer& tok, const std::string& prompt, const std::string& completion,
                            const DatasetOptions& opts) {
  Example ex;
  ex.tokens = tok.encode(prompt, opts.add_bos, false);
  size_t prompt_len = ex.tokens.size();
  std::vector<int32_t> answer = tok.encode(completion, false, opts.add_eos);
  ex.tokens.insert(ex.tokens.end(), answer.begin(), answer.end());
  ex.target.assign(ex.tokens.size(), 0);
  for (size_t i = std::max<size_t>(prompt_len, 1); i < ex.tokens.size(); ++i) ex.target[i] = 1;
  return ex;
}

std::vector<Example> fit_examples(std::vector<Example> examples, const DatasetOptions& opts,
                                  const std::vector<std::string>& names) {
  auto name_of = [&](size_t i) { return i < names.size() ? names[i] : "example " + std::to_string(i + 1); };
  if (opts.max_seq_len < 2) throw Error("max_seq_len must be at least 2");
  const size_t max_len = static_cast<size_t>(opts.max_seq_len);
  std::vector<Example> out;
  for (size_t i = 0; i < examples.size(); ++i) {
    Example& ex = examples[i];
    if (ex.size() > max_len) {
      if (opts.overlong == OverlongPolicy::Error)
        throw Error(name_of(i) + ": example has " + std::to_string(ex.size()) +
                    " tokens, more than max_seq_len=" + std::to_string(max_len) + " (set overlong: split or truncate)");
      if (opts.overlong == OverlongPolicy::Split) {
        // Chunks after the first predict their own first token from nothing, so
        // it is not a target, exactly as for a fresh document.
        for (size_t start = 0; start < ex.size(); start += max_len) {
          Example piece;
          size_t end = std::min(ex.size(), start + max_len);
          piece.tokens.assign(ex.tokens.begin() + static_cast<long>(start), ex.tokens.begin() + static_cast<long>(end));
          piece.target.assign(ex.target.begin() + static_cast<long>(start), ex.target.begin() + static_cast<long>(end));
          piece.target[0] = 0;
          if (piece.num_targets() > 0) out.push_back(std::move(piece));
        }
        continue;
      }
      ex.tokens.resize(max_len);
      ex.target.resize(max_len);
    }
    if (ex.num_targets() == 0) {
      if (opts.empty == EmptyPolicy::Error)
        throw Error(name_of(i) +
                    ": example has no tokens to train on (empty text or completion; set empty: skip to drop it)");
      continue;
    }
    out.push_back(std::move(ex));
  }
  return out;
}

std::vector<Example> load_jsonl_examples(const std::string& path, const Tokenizer& tok, const DatasetOptions& opts) {
  std::vector<Example> examples;
  std::vector<size_t> lines;
  for_each_jsonl(path, [&](const nlohmann::json& row, size_t line) {
    if (!row.is_object()) throw Error(path + ":" + std::to_string(line) + ": expected a JSON object");
    if (row.contains("input_ids")) {
      // Pre-tokenised rows, as HF datasets store them: every token but the first is trained.
      const auto& ids = row["input_ids"];
      if (!ids.is_array() || ids.empty())
        throw Error(path + ":" + std::to_string(line) + ": input_ids must be a non-empty array of token ids");
      Example ex;
      for (const auto& id : ids) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= tok.vocab_size())
          throw Error(path + ":" + std::to_string(line) + ": input_ids holds " + id.dump() +
                      ", not a token id of this vocabulary");
        ex.tokens.push_back(id.get<int32_t>());
      }
      ex.target.assign(ex.tokens.size(), 1);
      ex.target[0] = 0;
      examples.push_back(std::move(ex));
    } else if (row.contains("prompt") || row.contains("completion")) {
      examples.push_back(make_prompt_example(tok, jsonl_string_field(row, "prompt", path, line),
                                             jsonl_string_field(row, "completion", path, line), opts));
    } else if (row.contains("text")) {
      examples.push_back(make_text_example(tok, jsonl_string_field(row, "text", path, line), opts));
    } else {
      throw Error(path + ":" + std::to_string(line) +
                  ": expected a \"text\" field, \"prompt\" and \"completion\" fields, or \"input_ids\"");
    }
    lines.push_back(line);
  });
  std::vector<std::string> names;
  for (size_t line : lines) names.push_back(path + ":" + std::to_string(line));
  return fit_examples(std::move(examples), opts, names);
}

std::vector<size_t> shuffled_indices(size_t n, uint64_t seed, uint64_t epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + epoch + 1);
  // Fisher-Yates by hand: std::shuffle's algorithm is not fixed by the standard,
  // and the data order must be identical across builds for exact resume.
  for (size_t i = n; i > 1; --i) {
    size_t j = static_cast<size_t>(rng() % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

void split_train_valid(std::vector<Example> all, double valid_fraction, uint64_t seed, std::vector<Example>* train,
                       std::vector<Example>* valid) {
  std::vector<size_t> order = shuffled_indices(all.size(), seed, 0xFFFF);
  size_t n_valid = static_cast<size_t>(static_cast<double>(all.size()) * valid_fraction + 0.5);
  if (valid_fraction > 0 && n_valid == 0 && all.size() > 1) n_valid = 1;
  train->clear();
  valid->clear();
  for (size_t k = 0; k < order.size(); ++k) (k < n_valid ? valid : train)->push_back(std::move(all[order[k]]));
}

}  // namespace loom
