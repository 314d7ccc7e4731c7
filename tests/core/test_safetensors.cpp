#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "loom/core/error.h"
#include "loom/core/safetensors.h"

using namespace loom;
namespace st = loom::safetensors;

namespace {

std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

void expect_rejected(const std::vector<uint8_t>& bytes, const std::string& needle) {
  try {
    st::File::parse(bytes, "bad.safetensors");
    FAIL() << "accepted a corrupt file (expected: " << needle << ")";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("bad.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

}  // namespace

TEST(Safetensors, RoundTripKeepsNamesShapesAndBytes) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> b = {7, -8};
  auto bytes = st::serialize({{"model.layers.0.self_attn.q_proj.weight", st::DType::F32, {2, 3}, a.data(), 24},
                              {"model.embed_tokens.weight", st::DType::I64, {2}, b.data(), 16}},
                             {{"format", "pt"}});
  // The header is 8-byte aligned, as the reference writer makes it.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  EXPECT_EQ(n % 8, 0u);
  auto header = nlohmann::json::parse(std::string(bytes.begin() + 8, bytes.begin() + 8 + n));
  EXPECT_EQ(header["model.layers.0.self_attn.q_proj.weight"]["dtype"], "F32");
  EXPECT_EQ(header["model.layers.0.self_attn.q_proj.weight"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");

  auto file = st::File::parse(bytes, "mem");
  const auto& t = file.get("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(0, std::memcmp(t.data, a.data(), 24));
  EXPECT_EQ(0, std::memcmp(file.get("model.embed_tokens.weight").data, b.data(), 16));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_THROW(file.get("missing"), Error);
}

TEST(Safetensors, ReadsAFileWrittenByTheReferenceLayout) {
  // Hand-built exactly as huggingface/safetensors lays it out.
  std::string header = R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  auto bytes = with_header(header, 4);
  bytes[8 + header.size()] = 0x00;
  bytes[8 + header.size() + 1] = 0x3c;  // 1.0 in half precision
  auto file = st::File::parse(bytes, "ref");
  EXPECT_EQ(file.get("w").dtype, st::DType::F16);
  EXPECT_EQ(file.get("w").data[1], 0x3c);
}

struct CorruptCase {
  const char* name;
  std::string header;
  size_t data_bytes;
  const char* expected;
};

TEST(Safetensors, RejectsEveryCorruption) {
  const std::vector<CorruptCase> cases = {
      {"offset past end", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "past the data buffer"},
      {"size mismatch", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "does not match"},
      {"overlap",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, "overlaps"},
      {"hole", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "hole"},
      {"trailing", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, "trailing"},
      {"bad dtype", R"({"a":{"dtype":"F13","shape":[1],"data_offsets":[0,4]}})", 4, "dtype"},
      {"negative dim", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "negative"},
      {"begin > end", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4, "begin > end"},
      {"overflowing shape", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", 4,
       "overflow"},
      {"missing field", R"({"a":{"dtype":"F32","shape":[1]}})", 4, "data_offsets"},
      {"not json", R"({"a": nope})", 0, "header: invalid JSON"},
      {"not an object", R"([1,2,3])", 0, "not a JSON object"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    expect_rejected(with_header(c.header, c.data_bytes), c.expected);
  }
}

TEST(Safetensors, RejectsTruncatedAndLyingHeaderLengths) {
  expect_rejected({1, 2, 3}, "truncated");
  auto bytes = with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1);
  bytes.resize(bytes.size() - 10);  // cut into the header
  expect_rejected(bytes, "truncated");
  std::vector<uint8_t> huge(16, 0);
  huge[7] = 0x7f;  // header length ~ 9e18
  expect_rejected(huge, "exceeds the limit");
}
