// Word vectors for the sentence-alignment demo, derived locally: positive
// pointwise mutual information over a co-occurrence window, reduced by a
// randomised truncated SVD (the classic count-based embedding; GloVe and the
// hub are not reachable offline). Read and written in the GloVe / word2vec
// text format ("word v1 v2 ..."), so users can bring their own GloVe file.
//
//   auto vectors = loom::ot::train_word_vectors(texts, {});
//   vectors.save("vectors.txt");
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "loom/ot/ot.h"

namespace loom::ot {

struct WordVectorOptions {
  int64_t vocab_size = 8000;  // most frequent lower-cased words
  int64_t dimensions = 64;
  int64_t window = 4;  // words either side
  int64_t power_iterations = 3;
  uint64_t seed = 0;
};

class WordVectors {
 public:
  int64_t dimensions() const { return dim_; }
  size_t size() const { return words_.size(); }
  bool contains(const std::string& word) const { return index_.count(word) > 0; }
  // The word's vector; unknown words get a fixed pseudo-random unit vector
  // from a hash of the word (they match only themselves closely).
  std::vector<double> vector(const std::string& word) const;
  void add(const std::string& word, std::vector<double> values);
  void save(const std::string& path) const;
  // Errors name the file and line (ragged rows, non-numbers).
  static WordVectors load(const std::string& path);

 private:
  int64_t dim_ = 0;
  std::vector<std::string> words_;
  std::vector<std::vector<double>> values_;
  std::unordered_map<std::string, size_t> index_;
};

// Lower-cased alphabetic words (apostrophes kept), in order.
std::vector<std::string> split_words(const std::string& text);

WordVectors train_word_vectors(const std::vector<std::string>& texts, const WordVectorOptions& options);

// Euclidean-distance cost between two word lists, as in the e-SNLI demo.
Matrix word_distance_cost(const WordVectors& vectors, const std::vector<std::string>& rows,
                          const std::vector<std::string>& cols);

// One e-SNLI example in the ERASER layout: DIR/docs/<id>_premise and
// <id>_hypothesis (space-separated tokens), DIR/<split>.jsonl annotations
// with evidences [{docid, start_token, end_token}] (end exclusive).
struct EsnliExample {
  std::string id, label;
  std::vector<std::string> premise, hypothesis;
  std::vector<int64_t> premise_rationale, hypothesis_rationale;  // token indices
};
std::vector<EsnliExample> read_eraser_esnli(const std::string& dir, const std::string& split, int64_t limit);

}  // namespace loom::ot
