// tokenizer.json pre-tokenizers: ByteLevel (with or without its regex),
// Split (any regex, through Oniguruma), Metaspace, Digits, Punctuation,
// Whitespace, WhitespaceSplit, CharDelimiterSplit and Sequence, with Hugging
// Face tokenizers' semantics. Unknown types are refused, naming the field.
#pragma once
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer_json.h"
#include "tokenizer_regex.h"

namespace loom::tokenizer_detail {

// One piece of text on its way to the model.
struct Piece {
  std::string_view text;  // raw UTF-8 (or byte-level characters once materialised)
  // True when no character of the original input precedes this piece
  // (Metaspace's prepend_scheme "first"). A piece split off at a later offset
  // is never "first", even if the text before it was all inserted by a
  // normaliser; HF would compute that case from its alignments.
  bool at_start = false;
  // ByteLevel ran: the model sees each byte as its printable character. The
  // mapping is deferred (the model reads bytes directly) until another step
  // needs the mapped text.
  bool byte_level = false;
};

// Owns the strings pieces point into; references stay valid as it grows.
using Arena = std::deque<std::string>;

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
// HF's NormalizedString::split: cuts `in` along `matches` (empty pieces dropped).
void split_piece(const Piece& in, const MatchList& matches, SplitBehavior behavior, std::vector<Piece>* out);

class PreTokenizerStep {
 public:
  virtual ~PreTokenizerStep() = default;
  virtual void apply(const Piece& in, Arena* arena, std::vector<Piece>* out) const = 0;
};

// The steps in order (a Sequence is flattened); null -> no steps.
std::vector<std::unique_ptr<const PreTokenizerStep>> parse_pre_tokenizer(const json& j, const std::string& path);

// Runs the steps over one piece.
void pre_tokenize(const std::vector<std::unique_ptr<const PreTokenizerStep>>& steps, const Piece& piece, Arena* arena,
                  std::vector<Piece>* out);

// The GPT-2 regex ByteLevel uses when use_regex is true.
extern const char* const kByteLevelRegex;

}  // namespace loom::tokenizer_detail
