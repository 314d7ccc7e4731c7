#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/core/corpus.h"
#include "loom/core/dataset.h"
#include "loom/core/dictd.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/jsonl.h"
#include "loom/core/tokenizer.h"
#include "loom/core/utf8.h"
#include "temp_dir.h"

using namespace loom;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  std::string dir = loom::testing::fresh_temp_dir("test_" + name);
  fs::create_directories(dir);
  return dir;
}

Tokenizer byte_tokenizer() {
  TokenizerTrainOptions opts;
  opts.vocab_size = 259;
  return Tokenizer::train({}, opts);  // bytes + BOS/EOS/PAD, no merges
}

}  // namespace

TEST(Jsonl, TruncatingAMetricsLogKeepsTheStepsUpToTheCheckpoint) {
  const std::string dir = temp_dir("jsonl_truncate"), log = dir + "/metrics.jsonl";
  append_jsonl(log, {{"step", 1}, {"loss", 2.5}});
  append_jsonl(log, {{"step", 3}, {"loss", 2.0}});
  append_jsonl(log, {{"step", 5}, {"loss", 1.5}});
  append_jsonl(log, {{"tune_return", 0.1}});                          // no step: counts as step 0
  std::ofstream(log, std::ios::app) << "[1, 2]\n{\"step\": 4, \"lo";  // not an object; a torn last line
  truncate_jsonl_to_step(log, 3);
  EXPECT_EQ(read_file_text(log), "{\"loss\":2.5,\"step\":1}\n{\"loss\":2.0,\"step\":3}\n{\"tune_return\":0.1}\n");
  truncate_jsonl_to_step(dir + "/missing.jsonl", 3);
  EXPECT_FALSE(std::filesystem::exists(dir + "/missing.jsonl"));
}

TEST(Jsonl, MalformedLineNamesFileAndLine) {
  std::string dir = temp_dir("jsonl");
  write_file_atomic(dir + "/d.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": broken}\n");
  try {
    for_each_jsonl(dir + "/d.jsonl", [](const nlohmann::json&, size_t) {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d.jsonl:3"), std::string::npos) << e.what();
  }
  write_file_atomic(dir + "/e.jsonl", "{\"text\": \"ok\"}\n{\"txt\": \"x\"}\n");
  try {
    load_jsonl_examples(dir + "/e.jsonl", byte_tokenizer(), {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("e.jsonl:2"), std::string::npos) << e.what();
  }
}

TEST(Dataset, PreTokenisedRowsAreCheckedAgainstTheVocabulary) {
  std::string dir = temp_dir("ids");
  Tokenizer tok = byte_tokenizer();
  write_file_atomic(dir + "/ids.jsonl", "{\"input_ids\": [1, 2, 3]}\n");
  auto examples = load_jsonl_examples(dir + "/ids.jsonl", tok, {});
  ASSERT_EQ(examples.size(), 1u);
  EXPECT_EQ(examples[0].target, (std::vector<uint8_t>{0, 1, 1}));
  write_file_atomic(dir + "/bad.jsonl", "{\"input_ids\": [1, 2, 3]}\n{\"input_ids\": [1, 99999]}\n");
  try {
    load_jsonl_examples(dir + "/bad.jsonl", tok, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
}

TEST(Dataset, PromptTokensAreMaskedFromTheLoss) {
  Tokenizer tok = byte_tokenizer();
  Example ex = make_prompt_example(tok, "Q?", "A!", {});
  // BOS Q ? A ! EOS: only the completion and EOS are targets.
  ASSERT_EQ(ex.tokens, (std::vector<int32_t>{tok.bos_id(), 'Q', '?', 'A', '!', tok.eos_id()}));
  EXPECT_EQ(ex.target, (std::vector<uint8_t>{0, 0, 0, 1, 1, 1}));
  Example text = make_text_example(tok, "hi", {});
  EXPECT_EQ(text.target, (std::vector<uint8_t>{0, 1, 1, 1}));
}

TEST(Dataset, OverlongAndEmptyPolicies) {
  Tokenizer tok = byte_tokenizer();
  DatasetOptions opts;
  opts.max_seq_len = 4;
  Example long_ex = make_text_example(tok, "abcdefgh", opts);  // 10 tokens
  opts.overlong = OverlongPolicy::Split;
  auto split = fit_examples({long_ex}, opts);
  ASSERT_EQ(split.size(), 3u);
  EXPECT_EQ(split[0].size() + split[1].size() + split[2].size(), 10u);
  for (const auto& piece : split) EXPECT_EQ(piece.target[0], 0);
  opts.overlong = OverlongPolicy::Truncate;
  EXPECT_EQ(fit_examples({long_ex}, opts)[0].size(), 4u);
  opts.overlong = OverlongPolicy::Error;
  EXPECT_THROW(fit_examples({long_ex}, opts, {"f.jsonl:9"}), Error);
  try {
    fit_examples({long_ex}, opts, {"f.jsonl:9"});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.jsonl:9"), std::string::npos);
  }
  Example empty = make_prompt_example(tok, "prompt only", "",
                                      DatasetOptions{64, OverlongPolicy::Split, EmptyPolicy::Error, true, false});
  opts.max_seq_len = 64;
  EXPECT_THROW(fit_examples({empty}, opts), Error);
  opts.empty = EmptyPolicy::Skip;
  EXPECT_TRUE(fit_examples({empty}, opts).empty());
}

TEST(Dataset, ShuffleAndSplitAreDeterministic) {
  auto a = shuffled_indices(100, 7, 0), b = shuffled_indices(100, 7, 0), c = shuffled_indices(100, 7, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  std::vector<Example> all(50), train, valid;
  for (int i = 0; i < 50; ++i) all[i].tokens = {i};
  split_train_valid(all, 0.1, 3, &train, &valid);
  EXPECT_EQ(valid.size(), 5u);
  EXPECT_EQ(train.size(), 45u);
}

TEST(Dictd, ReadsIndexAndDictzipBody) {
  EXPECT_EQ(decode_dictd_number("A"), 0u);
  EXPECT_EQ(decode_dictd_number("B"), 1u);
  EXPECT_EQ(decode_dictd_number("BA"), 64u);
  EXPECT_THROW(decode_dictd_number("*"), Error);
  std::string dir = temp_dir("dictd");
  std::string body = "00-database-info\nabout\nhelium\n  He, 2: a noble gas\nneon\n  Ne, 10\n";
  gzFile gz = gzopen((dir + "/t.dict.dz").c_str(), "wb");
  gzwrite(gz, body.data(), static_cast<unsigned>(body.size()));
  gzclose(gz);
  // helium at offset 23 ("X"), length 28 ("c"); neon at 51 ("z"), length 14 ("O").
  write_file_atomic(dir + "/t.index", "00-database-info\tA\tX\nhelium\tX\tc\nneon\tz\tO\n");
  auto entries = read_dictd(dir + "/t");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].headword, "helium");
  EXPECT_EQ(entries[0].definition, "helium\n  He, 2: a noble gas\n");
  EXPECT_EQ(entries[1].definition, "neon\n  Ne, 10\n");
  write_file_atomic(dir + "/t.index", "neon\tz\tBAAA\n");
  try {
    read_dictd(dir + "/t");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.index:1"), std::string::npos) << e.what();
  }
}

TEST(Corpus, FortunesAreSplitOnPercentLines) {
  std::string dir = temp_dir("fortunes");
  write_file_atomic(dir + "/quotes", "First quote.\n%\nSecond\nquote.\n%\n");
  write_file_atomic(dir + "/quotes.dat", "binary index");
  auto quotes = read_fortunes(dir);
  EXPECT_EQ(quotes, (std::vector<std::string>{"First quote.", "Second\nquote."}));
}

TEST(Utf8, SanitizeReadsStrayBytesAsLatin1) {
  EXPECT_EQ(sanitize_utf8("caf\xe9"), "caf\xc3\xa9");
  EXPECT_EQ(sanitize_utf8("ok \xc3\xa9"), "ok \xc3\xa9");
  EXPECT_EQ(sanitize_utf8("\xc0\x80"), "\xc3\x80\xc2\x80");  // overlong NUL is not valid UTF-8
}

TEST(Json, DeepNestingAndSizeAreRefusedWithTheOriginNamed) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string e = loom::testing::error_of([&] { loom::parse_json(deep, "evil.json"); });
  EXPECT_NE(e.find("evil.json: JSON nested deeper than 64 levels"), std::string::npos) << e;
  EXPECT_EQ(loom::parse_json(std::string(63, '[') + std::string(63, ']'), "ok.json").dump().size(), 126u);
  e = loom::testing::error_of([&] { loom::parse_json("{\"a\": [1, 2", "cut.json"); });
  EXPECT_NE(e.find("cut.json: invalid JSON"), std::string::npos) << e;
  loom::JsonLimits small;
  small.max_bytes = 4;
  e = loom::testing::error_of([&] { loom::parse_json("[1, 2, 3]", "big.json", small); });
  EXPECT_NE(e.find("exceeds the limit of 4"), std::string::npos) << e;
}
