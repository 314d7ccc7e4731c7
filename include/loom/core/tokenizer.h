// Byte-level BPE tokenizer (the GPT-2 / Llama 3 / Qwen / SmolLM family), with
// training, special tokens, and Hugging Face `tokenizer.json` read and write.
//
// loom implements this itself on purpose: Debian 12's libsentencepiece bundles
// protobuf-lite symbols that crash any process that also loads LibTorch's
// libprotobuf (google/sentencepiece#723).
//
//   auto tok = loom::Tokenizer::train(texts, {.vocab_size = 4096});
//   std::vector<int32_t> ids = tok.encode("Hello world", /*add_bos=*/true);
//   tok.save("model/tokenizer.json");
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace loom {

// How text is split into words before BPE. Each is one of the regexes HF
// tokenizers ship; loom implements them directly (no regex engine).
enum class PreTokenizer {
  Gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Llama3,  // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
};

struct TokenizerTrainOptions {
  int vocab_size = 4096;  // including the 256 byte tokens and the special tokens
  int64_t min_frequency = 2;
  std::vector<std::string> special_tokens = {"<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"};
  PreTokenizer pre_tokenizer = PreTokenizer::Gpt2;
};

class Tokenizer {
 public:
  static Tokenizer train(const std::vector<std::string>& texts, const TokenizerTrainOptions& options);
  static Tokenizer load(const std::string& path);
  static Tokenizer from_json(const std::string& json_text, const std::string& origin);

  std::string to_json() const;
  void save(const std::string& path) const;  // atomic

  // Special tokens that appear literally in `text` are encoded as themselves.
  std::vector<int32_t> encode(const std::string& text, bool add_bos = false, bool add_eos = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const;
  // Splits text into pre-tokenizer words (raw UTF-8), exposed for tests.
  std::vector<std::string> pre_tokenize(const std::string& text) const;

  int vocab_size() const { return static_cast<int>(tokens_.size()); }
  std::optional<int32_t> token_to_id(const std::string& token) const;
  const std::string& id_to_token(int32_t id) const;  // byte-level string form
  size_t num_merges() const { return merges_.size(); }

  // Roles of special tokens; -1 when the tokenizer has none.
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  void set_special_ids(int32_t bos, int32_t eos, int32_t pad);

 private:
  void build_indexes();
  void guess_special_roles();
  void encode_word(const std::string& word, std::vector<int32_t>* out) const;
  void encode_ordinary(const std::string& text, std::vector<int32_t>* out) const;

  PreTokenizer pre_tokenizer_ = PreTokenizer::Gpt2;
  bool ignore_merges_ = false;
  std::vector<std::string> tokens_;  // id -> byte-level token string
  std::vector<bool> is_special_;
  std::unordered_map<std::string, int32_t> token_ids_;
  std::vector<std::pair<int32_t, int32_t>> merges_;                       // rank -> (left id, right id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merge_rank_;  // pair -> (rank, merged id)
  int32_t byte_ids_[256] = {};
  std::vector<int32_t> special_ids_;   // longest content first, for matching in text
  bool special_first_byte_[256] = {};  // quick reject before matching special tokens
  int32_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

}  // namespace loom
