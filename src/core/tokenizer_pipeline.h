// The parts of a loaded or trained tokenizer, in the order HF tokenizers runs
// them: added tokens, normalizer, pre-tokenizer, BPE model, post-processor;
// and the decoder. Private to the tokenizer sources.
#pragma once
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loom/core/tokenizer.h"
#include "tokenizer_added_tokens.h"
#include "tokenizer_bpe.h"
#include "tokenizer_decoders.h"
#include "tokenizer_json.h"
#include "tokenizer_normalizers.h"
#include "tokenizer_pre_tokenizers.h"

namespace loom::tokenizer_detail {

struct Pipeline {
  // The components as the file wrote them; to_json writes them back.
  ojson normalizer_json, pre_tokenizer_json, post_processor_json, decoder_json, dropout_json;

  std::unique_ptr<const Normalizer> normalizer;
  std::vector<std::unique_ptr<const PreTokenizerStep>> pre_tokenizer;
  std::optional<BpeModel> model;
  AddedVocabulary added;
  SingleTemplate post;
  std::unique_ptr<const Decoder> decoder;

  bool byte_level = false;           // a ByteLevel normalizer or pre-tokenizer: invalid bytes map to byte tokens
  std::vector<std::string> tokens;   // id -> vocabulary string, or an added token's content
  std::vector<std::string> decoded;  // id -> what decode feeds the decoder (normalised content for added tokens)
  std::vector<uint8_t> special;      // id -> 1 for special tokens (skipped by decode)
  uint64_t cache_id = 0;             // key of this pipeline in the per-thread word cache

  // Builds the indexes above once the components are set.
  void finish();
  // Normalised, pre-tokenized pieces of valid UTF-8 text without added tokens.
  void words(std::string_view text, Arena* arena, std::vector<Piece>* out) const;
};

// The pre-tokenizer JSON of a tokenizer loom trains.
ojson trained_pre_tokenizer_json(PreTokenizer kind);
ojson byte_level_json();

}  // namespace loom::tokenizer_detail

namespace loom::tokenizer_detail {

// Byte-level BPE training on counted words (sorted, so that training is
// deterministic): ids 0-255 are the bytes, then one id per merge.
struct TrainedBpe {
  std::vector<std::string> tokens;
  std::vector<std::pair<int32_t, int32_t>> merges;
};
TrainedBpe train_bpe(const std::vector<std::pair<std::string, int64_t>>& sorted_words, int target_merges,
                     int64_t min_frequency);

}  // namespace loom::tokenizer_detail
