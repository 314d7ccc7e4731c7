#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loom/core/error.h"
#include "loom/core/tokenizer.h"

using namespace loom;

namespace {

Tokenizer tiny_tokenizer() {
  TokenizerTrainOptions opts;
  opts.vocab_size = 256 + 4 + 3;  // bytes + 4 merges + 3 special tokens
  opts.min_frequency = 1;
  return Tokenizer::train({"aaab aaab aaab"}, opts);
}

}  // namespace

TEST(Tokenizer, Gpt2PreTokenizerSplitsLikeTheRegex) {
  Tokenizer tok = tiny_tokenizer();
  std::vector<std::string> expected = {"Hello", " world", "'s", " ", " test", "123", " !!", "\n", "x"};
  EXPECT_EQ(tok.pre_tokenize("Hello world's  test123 !!\nx"), expected);
  EXPECT_EQ(tok.pre_tokenize("a  "), (std::vector<std::string>{"a", "  "}));
}

TEST(Tokenizer, TrainingLearnsTheHandCheckedMerges) {
  // Pair counts in "aaab aaab aaab": (a,a)=6 first; then (a,b) and (aa,a) tie
  // at 3 and the smaller pair (a,b) wins; then (aa,ab)=3; then (' ',aaab)=2.
  Tokenizer tok = tiny_tokenizer();
  ASSERT_EQ(tok.num_merges(), 4u);
  EXPECT_EQ(tok.id_to_token(256), "aa");
  EXPECT_EQ(tok.id_to_token(257), "ab");
  EXPECT_EQ(tok.id_to_token(258), "aaab");
  EXPECT_EQ(tok.id_to_token(259),
            "\xC4\xA0"
            "aaab");  // "Ġaaab": GPT-2 maps ' ' to U+0120
  EXPECT_EQ(tok.encode("aaab aaab"), (std::vector<int32_t>{258, 259}));
  EXPECT_EQ(tok.encode("ab"), (std::vector<int32_t>{257}));
  EXPECT_EQ(tok.encode("ba"), (std::vector<int32_t>{'b', 'a'}));
}

TEST(Tokenizer, SpecialTokensAndRoundTrip) {
  Tokenizer tok = tiny_tokenizer();
  EXPECT_EQ(tok.bos_id(), 260);
  EXPECT_EQ(tok.eos_id(), 261);
  EXPECT_EQ(tok.pad_id(), 262);
  auto ids = tok.encode("aaab<|end_of_text|>b", true, true);
  EXPECT_EQ(ids, (std::vector<int32_t>{260, 258, 261, 'b', 261}));
  EXPECT_EQ(tok.decode(ids), "aaabb");
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/false), "<|begin_of_text|>aaab<|end_of_text|>b<|end_of_text|>");
  for (const std::string& text : std::vector<std::string>{"plain ascii", "naïve café — 東京 🙂",
                                                          std::string("\x00\xff\xfe bytes", 9), "  \n\t x"})
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

TEST(Tokenizer, HuggingFaceJsonRoundTrip) {
  TokenizerTrainOptions opts;
  opts.vocab_size = 400;
  std::vector<std::string> corpus = {"the quick brown fox jumps over the lazy dog", "the dog sleeps; the fox runs!",
                                     "numbers 12345 and   spaces\nnewlines"};
  Tokenizer tok = Tokenizer::train(corpus, opts);
  auto json = nlohmann::json::parse(tok.to_json());
  EXPECT_EQ(json["model"]["type"], "BPE");
  EXPECT_EQ(json["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(json["model"]["vocab"]["\xC4\xA0"], 32);  // 'Ġ' is the space byte
  EXPECT_EQ(json["model"]["vocab"]["\xC4\x8A"], 10);  // 'Ċ' is the newline byte
  EXPECT_TRUE(json["model"]["merges"][0].is_string());
  EXPECT_EQ(json["added_tokens"][0]["content"], "<|begin_of_text|>");

  Tokenizer back = Tokenizer::from_json(tok.to_json(), "mem");
  EXPECT_EQ(back.vocab_size(), tok.vocab_size());
  for (const auto& text : corpus) EXPECT_EQ(back.encode(text), tok.encode(text));

  // Newer HF versions write merges as pairs; both forms load the same.
  for (auto& m : json["model"]["merges"]) {
    std::string s = m.get<std::string>();
    m = nlohmann::json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  Tokenizer pairs = Tokenizer::from_json(json.dump(), "pairs");
  for (const auto& text : corpus) EXPECT_EQ(pairs.encode(text), tok.encode(text));
}

TEST(Tokenizer, Llama3PreTokenizer) {
  TokenizerTrainOptions opts;
  opts.vocab_size = 300;
  opts.pre_tokenizer = PreTokenizer::Llama3;
  Tokenizer tok = Tokenizer::train({"x"}, opts);
  // Digits come in groups of at most three; one non-letter may lead a word.
  EXPECT_EQ(tok.pre_tokenize("abc 12345 (word) I'M\n\n  x"),
            (std::vector<std::string>{"abc", " ", "123", "45", " (", "word", ")", " I", "'M", "\n\n", " ", " x"}));
  Tokenizer back = Tokenizer::from_json(tok.to_json(), "llama3");
  EXPECT_EQ(back.pre_tokenize("abc 12345"), tok.pre_tokenize("abc 12345"));
}

TEST(Tokenizer, RejectsMalformedJson) {
  std::string good = tiny_tokenizer().to_json();
  struct Case {
    std::string (*mutate)(nlohmann::json&);
    const char* expected;
  };
  auto check = [&](auto mutate, const char* expected) {
    auto j = nlohmann::json::parse(good);
    mutate(j);
    try {
      Tokenizer::from_json(j.dump(), "tok.json");
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("tok.json"), std::string::npos) << e.what();
    }
  };
  check([](nlohmann::json& j) { j["model"]["type"] = "WordPiece"; }, "BPE");
  check([](nlohmann::json& j) { j["model"]["merges"][0] = "nospace"; }, "merges[0]");
  check([](nlohmann::json& j) { j["model"]["merges"].push_back("zz qq"); }, "not in the vocabulary");
  check([](nlohmann::json& j) { j["model"]["vocab"].erase("a"); }, "vocabulary");
  check([](nlohmann::json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, "pre_tokenizer");
  EXPECT_THROW(Tokenizer::from_json("{not json", "x"), Error);
}
