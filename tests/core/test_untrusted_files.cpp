// Attacks on loom's core readers and writers from issue 17 ("files and
// configs"), one test each: the file must be refused with a loom::Error that
// names it (or written safely), never crash, follow a planted symlink, or
// cost gigabytes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <thread>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/core/dataset.h"
#include "loom/core/dictd.h"
#include "loom/core/error.h"
#include "loom/core/gzip.h"
#include "loom/core/idx.h"
#include "loom/core/jsonl.h"
#include "loom/core/param_schema.h"
#include "loom/core/safetensors.h"
#include "loom/core/tokenizer.h"
#include "loom/core/yaml.h"
#include "temp_dir.h"

using namespace loom;
using loom::testing::error_of;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  std::string dir = loom::testing::fresh_temp_dir("untrusted_" + name);
  fs::create_directories(dir);
  return dir;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Nesting far deeper than any stack: nlohmann's copy and dump() recurse once per level.
std::string deep_array(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

void write_gzip(const std::string& path, const std::string& data) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, data.data(), static_cast<unsigned>(data.size())), static_cast<int>(data.size()));
  gzclose(gz);
}

// A gzip file whose CRC is wrong: zlib reports it only when a reader reaches
// the end of the data, so a reader that stops where it should never sees it.
void write_gzip_with_bad_crc(const std::string& path, const std::string& data) {
  write_gzip(path, data);
  auto bytes = read_file_bytes(path);
  bytes[bytes.size() - 8] ^= 0xFF;  // the CRC-32 in the 8-byte trailer
  write_file_atomic(path, bytes.data(), bytes.size());
}

std::string idx_header(std::initializer_list<uint32_t> shape) {
  std::string out = {0, 0, 0x08, static_cast<char>(shape.size())};
  for (uint32_t n : shape)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xFF);
  return out;
}

Tokenizer byte_tokenizer() {
  TokenizerTrainOptions opts;
  opts.vocab_size = 259;
  return Tokenizer::train({}, opts);
}

}  // namespace

// ---------- JSON: every entry point is depth-limited (item 10) ----------

TEST(UntrustedJson, DeeplyNestedInputIsRefusedAtEveryCoreEntryPoint) {
  const std::string deep = deep_array(100000);
  struct Case {
    const char* name;
    std::function<void()> read;
    const char* origin;
  };
  const std::string dir = scratch("json");
  write_file_atomic(dir + "/ids.jsonl", "{\"input_ids\": [1, 2]}\n{\"input_ids\": " + deep + "}\n");
  const std::string header = "{\"w\": {\"dtype\": \"F32\", \"shape\": " + deep + ", \"data_offsets\": [0, 4]}}";
  std::string file;
  for (int k = 0; k < 8; ++k) file += static_cast<char>((header.size() >> (8 * k)) & 0xFF);
  file += header + std::string(4, '\0');
  const std::vector<uint8_t> safetensors(file.begin(), file.end());
  const std::vector<Case> cases = {
      {"tokenizer.json", [&] { Tokenizer::from_json("{\"normalizer\": " + deep + ", \"model\": {}}", "tok.json"); },
       "tok.json"},
      {"JSONL row", [&] { load_jsonl_examples(dir + "/ids.jsonl", byte_tokenizer(), {}); }, "ids.jsonl:2"},
      {"safetensors header", [&] { safetensors::File::parse(safetensors, "w.safetensors"); }, "w.safetensors"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string e = error_of(c.read);
    EXPECT_TRUE(contains(e, c.origin)) << e;
    EXPECT_TRUE(contains(e, "nested deeper than 64 levels")) << e;
  }
}

// ---------- gzip, IDX and dictd: small files that cost gigabytes (item 12) ----------

TEST(UntrustedGzip, WholeFileReadsStopAtTheLimit) {
  const std::string dir = scratch("gzip");
  write_gzip(dir + "/bomb.gz", std::string(2 << 20, '\0'));  // 2 MiB of zeros in about 2 KB
  EXPECT_LT(fs::file_size(dir + "/bomb.gz"), 10000u);
  const std::string e = error_of([&] { read_gzip_file(dir + "/bomb.gz", 1 << 20); });
  EXPECT_TRUE(contains(e, "bomb.gz: decompresses to more than 1048576 bytes")) << e;
  EXPECT_EQ(read_gzip_file(dir + "/bomb.gz", 2 << 20).size(), size_t{2} << 20);
}

TEST(UntrustedIdx, TheHeaderIsCheckedBeforeTheDataIsDecompressed) {
  const std::string dir = scratch("idx");
  // Sizes of 2^40 bytes: refused from the header; the corrupt rest is never read.
  write_gzip_with_bad_crc(dir + "/huge.gz",
                          idx_header({1 << 10, 1 << 10, 1 << 10, 1 << 10}) + std::string(1 << 20, 'x'));
  std::string e = error_of([&] { read_idx(dir + "/huge.gz"); });
  EXPECT_TRUE(contains(e, "huge.gz: IDX sizes describe an implausibly large array")) << e;
  // Within the limit a caller sets: 64 MiB promised, 1 MiB allowed.
  write_gzip(dir + "/big.gz", idx_header({64 << 20}) + std::string(64, 'x'));
  e = error_of([&] { read_idx(dir + "/big.gz", 1 << 20); });
  EXPECT_TRUE(contains(e, "more than the limit of 1048576")) << e;
}

TEST(UntrustedIdx, ABombBehindAValidHeaderIsNotDecompressed) {
  const std::string dir = scratch("idx_bomb");
  // 16 bytes of data as promised, then 8 MiB more (and a bad CRC at the
  // very end): a reader that decompressed everything would hit the CRC error.
  write_gzip_with_bad_crc(dir + "/bomb.gz", idx_header({4, 4}) + std::string(16, '\x07') + std::string(8 << 20, '\0'));
  const std::string e = error_of([&] { read_idx(dir + "/bomb.gz"); });
  EXPECT_TRUE(contains(e, "bomb.gz: IDX header promises 16 bytes of data but the file has more")) << e;
  // The same file without the excess reads back exactly.
  write_gzip(dir + "/ok.gz", idx_header({4, 4}) + std::string(16, '\x07'));
  const IdxArray a = read_idx(dir + "/ok.gz");
  EXPECT_EQ(a.shape, (std::vector<uint32_t>{4, 4}));
  EXPECT_EQ(a.data, std::vector<uint8_t>(16, 7));
  // A header that promises more than is there costs only what is there.
  write_gzip(dir + "/short.gz", idx_header({1 << 29}) + std::string(10, 'x'));
  EXPECT_TRUE(
      contains(error_of([&] { read_idx(dir + "/short.gz"); }), "promises 536870912 bytes of data but the file has 10"));
}

TEST(UntrustedDictd, OnlyTheBytesTheIndexNeedsAreDecompressed) {
  const std::string dir = scratch("dictd");
  write_gzip_with_bad_crc(dir + "/d.dict.dz", "helium: a gas" + std::string(8 << 20, '\0'));
  write_file_atomic(dir + "/d.index", "helium\tA\tN\n");  // offset 0, length 13
  const auto entries = read_dictd(dir + "/d");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].definition, "helium: a gas");
  // An index that reaches past the caller's limit is refused before any decompression.
  write_file_atomic(dir + "/d.index", "helium\tA\tN\nneon\tBAAA\tB\n");  // neon at 262144
  const std::string e = error_of([&] { read_dictd(dir + "/d", 4096); });
  EXPECT_TRUE(contains(e, "d.index:2: entry 'neon' reaches past byte 4096")) << e;
}

TEST(UntrustedTokenizer, VocabularyIdsAreBoundedByTheNumberOfEntries) {
  // One entry claiming id 9,999,999 would size the id table at ten million strings.
  const std::string text = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 9999999}, "merges": []}})";
  const std::string e = error_of([&] { Tokenizer::from_json(text, "tok.json"); });
  EXPECT_TRUE(contains(e, "tok.json: model.vocab['b']: expected an id in [0, 1028)")) << e;
  // Small holes, as some published vocabularies have, are still read.
  const Tokenizer holes =
      Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 900}, "merges": []}})", "holes.json");
  EXPECT_EQ(holes.vocab_size(), 901);
}

// ---------- atomic writes (item 13) ----------

TEST(AtomicFile, AFileOrSymlinkPlantedUnderAGuessableNameIsNeverOpened) {
  const std::string dir = scratch("atomic_plant");
  const std::string target = dir + "/state.json", victim = dir + "/victim";
  write_file_atomic(victim, "precious");
  // Where a writer that names its temporary after the process id would write.
  fs::create_symlink(victim, target + ".tmp." + std::to_string(::getpid()));
  write_file_atomic(target, "new state");
  EXPECT_EQ(read_file_text(victim), "precious");
  EXPECT_EQ(read_file_text(target), "new state");
  EXPECT_FALSE(fs::is_symlink(target));
}

TEST(AtomicFile, ConcurrentWritersOfOneFileNeverShareATemporary) {
  const std::string dir = scratch("atomic_threads");
  const std::string target = dir + "/out.bin";
  std::vector<std::string> contents;
  for (char c = 'a'; c < 'e'; ++c) contents.push_back(std::string(1 << 16, c));
  std::vector<std::string> errors(contents.size());
  std::vector<std::thread> writers;
  for (size_t t = 0; t < contents.size(); ++t)
    writers.emplace_back([&, t] {
      for (int k = 0; k < 10; ++k) {
        std::string e = error_of([&] { write_file_atomic(target, contents[t]); });
        if (!e.empty()) errors[t] = e;
      }
    });
  for (auto& w : writers) w.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  const std::string final_text = read_file_text(target);
  EXPECT_NE(std::find(contents.begin(), contents.end(), final_text), contents.end()) << "torn write";
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u) << "a temporary was left behind";
}

TEST(AtomicFile, SecretsAreWrittenOwnerOnly) {
  const std::string dir = scratch("atomic_mode");
  const mode_t mask = ::umask(022);
  write_file_atomic(dir + "/tokens.yaml", "party-1: abc\n");
  write_file_atomic(dir + "/tokens.yaml", "party-1: abc\n", kPrivateFileMode);  // replacing a 0644 file
  write_file_atomic(dir + "/plain.txt", "x");
  ::umask(mask);
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/tokens.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir + "/plain.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(AtomicFile, ReplacingADirectoryNeverTouchesAGuessableNeighbour) {
  const std::string dir = scratch("atomic_dir");
  make_dirs(dir + "/ckpt");
  write_file_atomic(dir + "/ckpt/a", "old");
  make_dirs(dir + "/staging");
  write_file_atomic(dir + "/staging/a", "new");
  // The name a writer that used its process id would move the old copy to, and then delete.
  make_dirs(dir + "/ckpt.old." + std::to_string(::getpid()));
  write_file_atomic(dir + "/ckpt.old." + std::to_string(::getpid()) + "/keep", "someone else's");
  rename_dir_atomic(dir + "/staging", dir + "/ckpt");
  EXPECT_EQ(read_file_text(dir + "/ckpt/a"), "new");
  EXPECT_EQ(read_file_text(dir + "/ckpt.old." + std::to_string(::getpid()) + "/keep"), "someone else's");
  const std::string a = make_temp_dir(dir, ".t."), b = make_temp_dir(dir, ".t.");
  EXPECT_NE(a, b);
  EXPECT_TRUE(fs::is_directory(a) && fs::is_directory(b));
}

// ---------- configs: YAML and declared bounds (item 14) ----------

TEST(UntrustedYaml, DuplicateKeysAreRefusedNamingBothLines) {
  std::string e = error_of([] { load_yaml("lr: 0.1\nsteps: 3\nlr: 0.2\n", "run.yaml"); });
  EXPECT_TRUE(contains(e, "run.yaml:3: key 'lr' is given twice in one mapping (first on line 1)")) << e;
  // In nested mappings too (merge descriptions, token files).
  e = error_of([] { load_yaml("models:\n  - model: a\n    parameters: {weight: 1, weight: 2}\n", "merge.yaml"); });
  EXPECT_TRUE(contains(e, "merge.yaml:3: key 'weight' is given twice")) << e;
  Params params({{"lr", ParamType::Float, "0.1", ""}});
  e = error_of([&] { params.load_yaml_string("lr: 0.5\nlr: 0.7\n", "cfg.yaml"); });
  EXPECT_TRUE(contains(e, "cfg.yaml:2: key 'lr' is given twice")) << e;
}

TEST(UntrustedYaml, NestingTooDeepIsNamedAsSuch) {
  std::string e = error_of([] { load_yaml("a: " + deep_array(5000), "deep.yaml"); });
  EXPECT_TRUE(contains(e, "deep.yaml:1: YAML nested too deeply")) << e;
  e = error_of([] { load_yaml_file("/nonexistent/loom.yaml"); });
  EXPECT_TRUE(contains(e, "/nonexistent/loom.yaml: cannot read")) << e;
  // Aliases that expand into billions of nodes ("billion laughs") are cut off.
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'h'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    laughs += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
              ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  e = error_of([&] { load_yaml(laughs, "laughs.yaml"); });
  EXPECT_TRUE(contains(e, "laughs.yaml: YAML expands to more than 1000000 nodes")) << e;
}

TEST(UntrustedYaml, IntegerOptionsNeverWrapAroundTheirType) {
  struct Opts {
    int threads = 1;
    size_t count = 0;
  };
  ParamSchema<Opts> schema;
  schema.add("threads", &Opts::threads, "").add("count", &Opts::count, "");
  Params params(schema.specs());
  // 2^32 + 1 would become 1 in an int; -1 would become 2^64 - 1 in a size_t.
  std::string e = error_of([&] { params.load_yaml_string("threads: 4294967297\n", "cfg.yaml"); });
  EXPECT_TRUE(contains(e, "cfg.yaml:1: key 'threads' must lie in [-2147483648, 2147483647], got 4294967297")) << e;
  e = error_of([&] { params.load_yaml_string("count: -1\n", "cfg.yaml"); });
  EXPECT_TRUE(contains(e, "key 'count' must lie in [0, ")) << e;
  params.load_yaml_string("threads: 2147483647\ncount: 7\n", "cfg.yaml");
  const Opts o = schema.read(params);
  EXPECT_EQ(o.threads, 2147483647);
  EXPECT_EQ(o.count, 7u);
}
