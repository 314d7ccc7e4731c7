// BPE tokenizers as Hugging Face `tokenizer.json` describes them: byte-level
// ones (GPT-2, Llama 3, Qwen, DeepSeek, GPT-4o) and SentencePiece-style ones
// with byte fallback (Llama 2, Mistral, Gemma). Reads and writes the file,
// trains byte-level BPE, and encodes and decodes with the file's normalizer,
// pre-tokenizer, model options, added tokens, post-processor and decoder, so
// that ids match Hugging Face tokenizers. What loom cannot honour (other
// model types, BPE dropout, truncation or padding in the file, unknown
// component types) is refused, naming the field. See docs/core.md.
//
// loom implements this itself on purpose: Debian 12's libsentencepiece bundles
// protobuf-lite symbols that crash any process that also loads LibTorch's
// libprotobuf (google/sentencepiece#723). Regexes go through Oniguruma (what
// HF tokenizers uses) and Unicode normalisation through utf8proc.
//
//   auto tok = loom::Tokenizer::train(texts, {.vocab_size = 4096});
//   std::vector<int32_t> ids = tok.encode("Hello world", /*add_bos=*/true);
//   auto llama = loom::Tokenizer::load("Llama-3/tokenizer.json");
//   std::vector<int32_t> hf_ids = llama.encode_templated("Hello world");  // HF encode(add_special_tokens=True)
//   tok.save("model/tokenizer.json");
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loom {

namespace tokenizer_detail {
struct Pipeline;
}

// The pre-tokenizer of a tokenizer loom trains: one of the regexes HF
// tokenizers ship, written into the saved tokenizer.json.
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
  Tokenizer();  // empty: load, parse or train one before use
  static Tokenizer train(const std::vector<std::string>& texts, const TokenizerTrainOptions& options);
  static Tokenizer load(const std::string& path);
  static Tokenizer from_json(const std::string& json_text, const std::string& origin);

  std::string to_json() const;
  void save(const std::string& path) const;  // atomic

  // Added tokens that appear literally in `text` are encoded as themselves.
  // add_bos / add_eos put bos_id() / eos_id() around the text (loom's data
  // pipeline decides that), whatever the file's post-processor says.
  std::vector<int32_t> encode(const std::string& text, bool add_bos = false, bool add_eos = false) const;
  // The special tokens the file's post-processor (TemplateProcessing,
  // RobertaProcessing, ...) adds around one sequence: HF's
  // encode(text, add_special_tokens=True).
  std::vector<int32_t> encode_templated(const std::string& text) const;
  // Text of the ids through the file's decoder. Byte-level tokens that end
  // mid-character decode to those bytes (HF would write U+FFFD instead).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const;
  // Normalised, pre-tokenized words of `text` (added tokens not split out),
  // exposed for tests and training.
  std::vector<std::string> pre_tokenize(const std::string& text) const;

  int vocab_size() const;  // 1 + the largest id
  std::optional<int32_t> token_to_id(const std::string& token) const;
  const std::string& id_to_token(int32_t id) const;  // vocabulary string (byte-level form) or added content
  size_t num_merges() const;

  // Roles of special tokens; -1 when the tokenizer has none. From the file's
  // post-processor when it adds tokens (the one before the text is BOS, the
  // one after is EOS), else from the usual names (<|begin_of_text|>, <s>, ...).
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  void set_special_ids(int32_t bos, int32_t eos, int32_t pad);

 private:
  explicit Tokenizer(std::shared_ptr<const tokenizer_detail::Pipeline> pipeline);
  const tokenizer_detail::Pipeline& pipeline() const;
  void encode_ordinary(const std::string& text, std::vector<int32_t>* out) const;

  std::shared_ptr<const tokenizer_detail::Pipeline> pipeline_;  // immutable once built; shared by copies
  int32_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

}  // namespace loom
