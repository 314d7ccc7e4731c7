// Added tokens (tokenizer.json's added_tokens): matched in the text before
// the pre-tokenizer runs, leftmost-longest as HF's Aho-Corasick does, with
// single_word, lstrip, rstrip and normalized; ids assigned as HF assigns them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer_bpe.h"
#include "tokenizer_normalizers.h"

namespace loom::tokenizer_detail {

struct AddedToken {
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
  int32_t id = -1;
  std::string pattern;  // what is matched: content, or content normalised when `normalized`
  bool operator==(const AddedToken& o) const {
    return content == o.content && single_word == o.single_word && lstrip == o.lstrip && rstrip == o.rstrip &&
           normalized == o.normalized && special == o.special;
  }
};

// A span of text: an added token's id, or -1 for text to pre-tokenize.
struct Segment {
  size_t begin, end;
  int32_t id;
};

class AddedVocabulary {
 public:
  // Adds tokens in order, as HF's add_tokens: a token already in the model's
  // vocabulary keeps that id; others take ids from max(vocab entries, ...).
  void add(std::vector<AddedToken> tokens, const BpeModel& model, const Normalizer* normalizer);

  // Splits text along the tokens whose `normalized` flag equals `normalized`.
  void split(std::string_view text, bool normalized, std::vector<Segment>* out) const;

  // Tokens by id (the last registered for an id), for decode and to_json.
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* by_id(int32_t id) const;
  bool empty() const { return tokens_.empty(); }

 private:
  struct Trie {
    std::vector<std::vector<std::pair<unsigned char, int32_t>>> children{{}};  // node -> (byte, child)
    std::vector<int32_t> token{-1};  // node -> index into tokens_ ending here, or -1
    bool first_byte[256] = {};
    bool empty = true;
    void insert(const std::string& pattern, int32_t index);
    // Longest match starting at text[i]; returns its length (0 if none).
    size_t longest(std::string_view text, size_t i, int32_t* index) const;
  };
  void rebuild();

  std::vector<AddedToken> tokens_;  // registration order (later entries override by id and content)
  std::vector<int32_t> by_id_index_;
  Trie raw_, normalized_;
};

}  // namespace loom::tokenizer_detail
