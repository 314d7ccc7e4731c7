// The tokenizer.json components loom implements, each on small hand-checked
// cases with Hugging Face tokenizers' semantics (tests/interop/tokenizers
// checks whole real files against HF itself).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loom/core/error.h"
#include "loom/core/tokenizer.h"

using namespace loom;
using nlohmann::json;

namespace {

// A byte-level tokenizer with no merges, whose pipeline the tests replace.
json byte_level_base() {
  TokenizerTrainOptions opts;
  opts.vocab_size = 256 + 3;
  return json::parse(Tokenizer::train({}, opts).to_json());
}

Tokenizer with(json root) { return Tokenizer::from_json(root.dump(), "test.json"); }

std::vector<std::string> words(const json& pre_tokenizer, const std::string& text, const json& normalizer = nullptr) {
  json j = byte_level_base();
  j["pre_tokenizer"] = pre_tokenizer;
  j["normalizer"] = normalizer;
  return with(j).pre_tokenize(text);
}

using Words = std::vector<std::string>;

// A SentencePiece-style BPE: ▁ for spaces, byte fallback, an unknown token.
json sentencepiece_like(bool byte_fallback, bool fuse_unk) {
  json vocab = {{"<unk>", 0},
                {"<s>", 1},
                {"</s>", 2},
                {"\xE2\x96\x81", 3},
                {"a", 4},
                {"b", 5},
                {"ab", 6},
                {"\xE2\x96\x81"
                 "ab",
                 7}};
  int id = 8;
  for (int b = 0; b < 256; ++b) {
    char code[8];
    std::snprintf(code, sizeof code, "<0x%02X>", b);
    if (b != 0xBF) vocab[code] = id++;  // byte 0xBF has no token: exercises the unknown path
  }
  json added = json::array();
  for (int k = 0; k < 3; ++k) added.push_back({{"id", k}, {"content", vocab.items().begin().key()}, {"special", true}});
  added[0]["content"] = "<unk>";
  added[1]["content"] = "<s>";
  added[2]["content"] = "</s>";
  for (auto& a : added) a.update({{"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}});
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
          {"pre_tokenizer", nullptr},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single",
             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair", json::array()},
            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"},
            {"unk_token", "<unk>"},
            {"fuse_unk", fuse_unk},
            {"byte_fallback", byte_fallback},
            {"vocab", vocab},
            {"merges", {"a b", "\xE2\x96\x81 ab"}}}}};
}

// The id of "<0xXX>" in sentencepiece_like().
int32_t byte_id(int b) { return 8 + b - (b > 0xBF ? 1 : 0); }

}  // namespace

TEST(TokenizerPipeline, SplitBehaviorsAndInvert) {
  auto split = [](const char* behavior, bool invert) {
    return json{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
  };
  const std::string text = "a-b--c-";
  EXPECT_EQ(words(split("Removed", false), text), (Words{"a", "b", "c"}));
  EXPECT_EQ(words(split("Isolated", false), text), (Words{"a", "-", "b", "-", "-", "c", "-"}));
  EXPECT_EQ(words(split("MergedWithPrevious", false), text), (Words{"a-", "b-", "-", "c-"}));
  EXPECT_EQ(words(split("MergedWithNext", false), text), (Words{"a", "-b", "-", "-c", "-"}));
  EXPECT_EQ(words(split("Contiguous", false), text), (Words{"a", "-", "b", "--", "c", "-"}));
  EXPECT_EQ(words(split("Removed", true), text), (Words{"-", "-", "-", "-"}));
  // Regex patterns with look-around and Unicode properties (Oniguruma).
  json digits3 = {
      {"type", "Split"}, {"pattern", {{"Regex", "\\p{N}{1,3}"}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_EQ(words(digits3, "x12345٣"), (Words{"x", "123", "45٣"}));
  json lookahead = {
      {"type", "Split"}, {"pattern", {{"Regex", "\\s+(?!\\S)"}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_EQ(words(lookahead, "a   b"), (Words{"a", "  ", " b"}));
}

TEST(TokenizerPipeline, ByteLevelRegexAndPrefixSpace) {
  json bl = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  EXPECT_EQ(words(bl, "Hello world's"), (Words{" Hello", " world", "'s"}));
  bl["use_regex"] = false;
  EXPECT_EQ(words(bl, "Hello world"), (Words{" Hello world"}));
  // Marks are not letters: \p{L}+ stops at U+0947 (the old table said letter).
  json gpt2 = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  EXPECT_EQ(words(gpt2, "\xE0\xA4\xA8\xE0\xA5\x87x"), (Words{"\xE0\xA4\xA8", "\xE0\xA5\x87", "x"}));
}

TEST(TokenizerPipeline, MetaspacePrependSchemes) {
  auto meta = [](const char* scheme, bool split) {
    return json{{"type", "Metaspace"}, {"replacement", "_"}, {"prepend_scheme", scheme}, {"split", split}};
  };
  EXPECT_EQ(words(meta("always", true), "hi there  x"), (Words{"_hi", "_there", "_", "_x"}));
  EXPECT_EQ(words(meta("always", false), "hi there"), (Words{"_hi_there"}));
  EXPECT_EQ(words(meta("never", true), "hi there"), (Words{"hi", "_there"}));
  EXPECT_EQ(words(meta("always", false), " hi"), (Words{"_hi"}));  // no second ▁ before a leading space
  // "first": only the piece at the start of the input gets the prefix.
  json seq = {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "Split"}, {"pattern", {{"String", ","}}}, {"behavior", "Removed"}, {"invert", false}},
                meta("first", false)}}};
  EXPECT_EQ(words(seq, "a,b"), (Words{"_a", "b"}));
  seq["pretokenizers"][1] = meta("always", false);
  EXPECT_EQ(words(seq, "a,b"), (Words{"_a", "_b"}));
}

TEST(TokenizerPipeline, DigitsPunctuationWhitespace) {
  EXPECT_EQ(words({{"type", "Digits"}, {"individual_digits", true}}, "ab12c"), (Words{"ab", "1", "2", "c"}));
  EXPECT_EQ(words({{"type", "Digits"}, {"individual_digits", false}}, "ab12c"), (Words{"ab", "12", "c"}));
  EXPECT_EQ(words({{"type", "Punctuation"}, {"behavior", "Isolated"}}, "hi!? «x»"),
            (Words{"hi", "!", "?", " ", "\xC2\xAB", "x", "\xC2\xBB"}));
  EXPECT_EQ(words({{"type", "Whitespace"}}, "it's 3 cafés!!"), (Words{"it", "'", "s", "3", "caf\xC3\xA9s", "!!"}));
  EXPECT_EQ(words({{"type", "WhitespaceSplit"}}, " a\u00a0b\tc "), (Words{"a", "b", "c"}));
  EXPECT_EQ(words({{"type", "CharDelimiterSplit"}, {"delimiter", "|"}}, "a|b||c"), (Words{"a", "b", "c"}));
}

TEST(TokenizerPipeline, Normalizers) {
  json none = nullptr;
  auto norm = [&](json n, const std::string& text) {
    auto w = words(none, text, n);
    return w.empty() ? std::string() : w[0];
  };
  EXPECT_EQ(norm({{"type", "NFC"}}, "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(norm({{"type", "NFD"}}, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(norm({{"type", "NFKC"}},
                 "\xEF\xAC\x81"
                 "x\xC2\xB2"),
            "fix2");                                                 // ﬁ, ²
  EXPECT_EQ(norm({{"type", "NFKD"}}, "\xE2\x84\xAB"), "A\xCC\x8A");  // Å (Angstrom)
  // U+32FF (Unicode 12.1) is newer than HF's normalisation tables: kept as is.
  EXPECT_EQ(norm({{"type", "NFKC"}}, "\xEF\xAC\x81\xE3\x8B\xBF\xEF\xAC\x81"),
            "fi\xE3\x8B\xBF"
            "fi");
  EXPECT_EQ(norm({{"type", "Lowercase"}}, "ÀB\xC4\xB0"),
            "\xC3\xA0"
            "bi\xCC\x87");  // İ -> i + U+0307, as Rust
  EXPECT_EQ(norm({{"type", "Replace"}, {"pattern", {{"Regex", "\\d+"}}}, {"content", "#"}}, "a12b3"), "a#b#");
  EXPECT_EQ(norm({{"type", "Prepend"}, {"prepend", ">"}}, "x"), ">x");
  EXPECT_EQ(norm({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, " \t x "), "x ");
  EXPECT_EQ(norm({{"type", "StripAccents"}}, "e\xCC\x81"), "e");
  EXPECT_EQ(norm({{"type", "Sequence"},
                  {"normalizers", {{{"type", "NFD"}}, {{"type", "StripAccents"}}, {{"type", "Lowercase"}}}}},
                 "\xC3\x89T\xC3\x89"),
            "ete");
  EXPECT_EQ(norm({{"type", "Prepend"}, {"prepend", ">"}}, ""), "");  // Prepend leaves empty text empty
}

TEST(TokenizerPipeline, ByteFallbackUnknownTokensAndTemplate) {
  Tokenizer tok = with(sentencepiece_like(true, true));
  // " ab" -> "▁▁ab": ▁ + ▁ab; "é" is not in the vocabulary: its bytes.
  EXPECT_EQ(tok.encode("ab ab"), (std::vector<int32_t>{7, 7}));
  EXPECT_EQ(tok.encode("\xC3\xA9"), (std::vector<int32_t>{3, byte_id(0xC3), byte_id(0xA9)}));
  EXPECT_EQ(tok.encode_templated("ab"), (std::vector<int32_t>{1, 7}));
  EXPECT_EQ(tok.bos_id(), 1);  // from the template
  EXPECT_EQ(tok.eos_id(), 2);  // by name
  EXPECT_EQ(tok.decode(tok.encode_templated("ab ab")), "ab ab");
  EXPECT_EQ(tok.decode(tok.encode_templated("ab ab"), false), "<s> ab ab");
  EXPECT_EQ(tok.decode(tok.encode("\xC3\xA9"
                                  "a")),
            "\xC3\xA9"
            "a");
  EXPECT_EQ(tok.decode({byte_id(0xC3), 4}),
            "\xEF\xBF\xBD"
            "a");  // a lone lead byte: U+FFFD, as HF
  // U+FFFF is EF BF BF and byte 0xBF has no token: the character is unknown.
  EXPECT_EQ(tok.encode("\xEF\xBF\xBF\xEF\xBF\xBF"
                       "a"),
            (std::vector<int32_t>{3, 0, 4}));  // fused
  Tokenizer unfused = with(sentencepiece_like(true, false));
  EXPECT_EQ(unfused.encode("\xEF\xBF\xBF\xEF\xBF\xBF"
                           "a"),
            (std::vector<int32_t>{3, 0, 0, 4}));
  Tokenizer no_fallback = with(sentencepiece_like(false, true));
  EXPECT_EQ(no_fallback.encode("\xC3\xA9"
                               "a\xC3\xA9"),
            (std::vector<int32_t>{3, 0, 4, 0}));
}

TEST(TokenizerPipeline, MergeOrderFollowsRanksNotLength) {
  json j = byte_level_base();
  j["pre_tokenizer"] = nullptr;
  j["model"]["vocab"]["bc"] = 300;
  j["model"]["vocab"]["ab"] = 301;
  j["model"]["vocab"]["abc"] = 302;
  j["model"]["vocab"]["aa"] = 303;
  j["model"]["merges"] = {"b c", "a bc", "a b", "a a"};
  Tokenizer tok = with(j);
  EXPECT_EQ(tok.encode("abc"), (std::vector<int32_t>{302}));       // b+c first, then a+bc
  EXPECT_EQ(tok.encode("abd"), (std::vector<int32_t>{301, 'd'}));  // a+b when no c follows
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{303, 'a'}));  // leftmost pair first
  // ignore_merges: a word found in the vocabulary is one token.
  j["model"]["merges"] = {"a b"};
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(with(j).encode("abc"), (std::vector<int32_t>{302}));
  // continuing_subword_prefix: inner characters look up "##x".
  json w = byte_level_base();
  w["pre_tokenizer"] = nullptr;
  w["model"]["vocab"]["##b"] = 300;
  w["model"]["vocab"]["ab"] = 301;
  w["model"]["continuing_subword_prefix"] = "##";
  w["model"]["merges"] = {"a ##b"};
  EXPECT_EQ(with(w).encode("ab"), (std::vector<int32_t>{301}));
  EXPECT_EQ(with(w).encode("ba"), (std::vector<int32_t>{'b'}));  // "##a" is unknown and there is no unk token
}

TEST(TokenizerPipeline, AddedTokenOptions) {
  json j = byte_level_base();
  j["pre_tokenizer"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  auto add = [&](const char* content, bool single_word, bool lstrip, bool rstrip, bool normalized, bool special) {
    j["added_tokens"].push_back({{"id", 0},
                                 {"content", content},
                                 {"single_word", single_word},
                                 {"lstrip", lstrip},
                                 {"rstrip", rstrip},
                                 {"normalized", normalized},
                                 {"special", special}});
  };
  add("<x>", false, true, true, false, true);    // id 259
  add("cat", true, false, false, false, false);  // id 260
  add("DOG", false, false, false, true, false);  // id 261, matched after normalisation
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", "dog"}}}, {"content", "DOG"}};
  Tokenizer tok = with(j);
  EXPECT_EQ(tok.encode("a  <x>  b"), (std::vector<int32_t>{'a', 259, 'b'}));  // lstrip and rstrip take the spaces
  EXPECT_EQ(tok.encode("cat"), (std::vector<int32_t>{260}));
  EXPECT_EQ(tok.encode("cats").size(), 4u);  // single_word: not inside a word
  EXPECT_EQ(tok.encode("a dog"), (std::vector<int32_t>{'a', ' ', 261}));
  EXPECT_EQ(tok.decode(tok.encode("cat<x>")), "cat");  // <x> is special, cat is not
  EXPECT_EQ(tok.decode(tok.encode("cat<x>"), false), "cat<x>");
  EXPECT_EQ(tok.token_to_id("DOG"), 261);
}
