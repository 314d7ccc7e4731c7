// `loom tofa` bad input through the program: a malformed budget, a label
// count larger than the data, a corrupt IDX file, a bad digits CSV and a
// missing run or model each end with a clear error that names the thing,
// and a non-zero exit. Tiny IDX files written here; nothing is trained.
// Labelled slow: each case starts the program (≈ 1 s with libtorch).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "loom/core/atomic_file.h"
#include "loom_cli_run.h"

namespace fs = std::filesystem;

namespace {

std::string work_dir() {
  static const std::string dir = [] {
    std::string d = (fs::temp_directory_path() / ("loom_tofa_cli_" + std::to_string(::getpid()))).string();
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

loom::testing::CliRun loom_cmd(const std::string& args) {
  return loom::testing::run_loom(args, work_dir() + "/last.log");
}

// An (uncompressed) IDX file of unsigned bytes: header, big-endian sizes, data.
std::string idx_bytes(const std::vector<uint32_t>& shape, const std::vector<uint8_t>& data) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(shape.size())};
  for (uint32_t d : shape)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((d >> shift) & 0xFF));
  out.append(data.begin(), data.end());
  return out;
}

// A Fashion-MNIST-shaped directory with `per_class` images of each class 0-9 in both splits.
std::string tiny_fashion_dir(const std::string& name, uint32_t per_class) {
  const std::string dir = work_dir() + "/" + name;
  fs::create_directories(dir);
  const uint32_t n = 10 * per_class;
  std::vector<uint8_t> images(static_cast<size_t>(n) * 28 * 28), labels(n);
  for (uint32_t i = 0; i < n; ++i) {
    labels[i] = static_cast<uint8_t>(i % 10);
    for (size_t p = 0; p < 28 * 28; ++p) images[i * 28 * 28 + p] = static_cast<uint8_t>((i * 31 + p * 7) % 251);
  }
  for (const char* split : {"train", "t10k"}) {
    loom::write_file_atomic(dir + "/" + split + "-images-idx3-ubyte.gz", idx_bytes({n, 28, 28}, images));
    loom::write_file_atomic(dir + "/" + split + "-labels-idx1-ubyte.gz", idx_bytes({n}, labels));
  }
  return dir;
}

void expect_error(const std::string& args, const std::vector<std::string>& needles) {
  const loom::testing::CliRun r = loom_cmd(args);
  EXPECT_NE(r.exit_code, 0) << args << "\n" << r.output;
  EXPECT_EQ(r.output.find("Segmentation"), std::string::npos) << r.output;
  for (const auto& needle : needles) EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
}

}  // namespace

TEST(TofaCliSlow, MalformedBudgetsAreClearErrorsBeforeAnythingIsLoaded) {
  const std::string run = work_dir() + "/no-such-run";
  expect_error("tofa select --run " + run + " --budget latency_ms=fast", {"--budget", "'fast' is not a number"});
  expect_error("tofa select --run " + run + " --budget watts=3", {"--budget", "unknown budget metric 'watts'"});
  expect_error("tofa export --run " + run + " --budget latency_ms --out " + work_dir() + "/m",
               {"--budget", "is not metric=limit"});
  expect_error("tofa select --run " + run + " --budget latency_ms=-1", {"--budget", "must be positive"});
  // A well-formed budget on a directory that is no run.
  expect_error("tofa select --run " + run + " --budget latency_ms=1", {run, "not a `loom tofa train` run"});
  expect_error("tofa eval --model " + work_dir() + "/no-such-model", {"no-such-model", "no such model directory"});
}

TEST(TofaCliSlow, BadDataIsAClearErrorNamingTheFileOrTheOption) {
  const std::string small = tiny_fashion_dir("small", 12);
  // More labels (plus validation images) per class than the class has.
  expect_error(
      "tofa train --data-dir " + small + " --labels-per-class 50 --valid-per-class 5 --out " + work_dir() + "/r1",
      {"labels_per_class", "has 12 training images", "= 55"});
  // A truncated IDX file.
  const std::string corrupt = tiny_fashion_dir("corrupt", 12);
  const std::string images = corrupt + "/train-images-idx3-ubyte.gz";
  std::string bytes = loom::read_file_text(images);
  loom::write_file_atomic(images, bytes.substr(0, bytes.size() / 2));
  expect_error("tofa train --data-dir " + corrupt + " --out " + work_dir() + "/r2", {images});
  // A digits CSV with a short row.
  const std::string csv = work_dir() + "/digits.csv";
  loom::write_file_atomic(csv, "0,1,2\n");
  expect_error(
      "tofa train --data-dir " + small + " --target digits --digits-csv " + csv + " --out " + work_dir() + "/r3",
      {csv + ":1", "expected 64 pixels and a label"});
  expect_error("tofa train --data-dir " + small + " --target mnist --out " + work_dir() + "/r4", {"target", "mnist"});
}
