// A custom libFuzzer mutator for the JSON and YAML targets: libFuzzer's own
// byte mutations almost never build nesting thousands of levels deep, which
// is what overflowed the stack in nlohmann's copy and dump() (issue 17). One
// mutation in four inserts a run of openers ('[', '{"a":', YAML's "- " or
// "{a: "), up to the whole -max_len, and sometimes the matching closers;
// the rest are libFuzzer's usual mutations. Include it in exactly one file
// per target.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand rng(seed);
  if (rng() % 4 != 0 || max_size < 8) return LLVMFuzzerMutate(data, size, max_size);
  struct Opener {
    const char* open;
    const char* close;
  };
  static const Opener kOpeners[] = {{"[", "]"}, {"{\"a\":", "}"}, {"[{\"k\":[", "]}]"}, {"{a: ", "}"}, {"- ", ""}};
  const Opener& o = kOpeners[rng() % (sizeof(kOpeners) / sizeof(kOpeners[0]))];
  const size_t open_len = std::strlen(o.open), close_len = std::strlen(o.close);
  const bool close = rng() % 2 == 0;
  const size_t unit = open_len + (close ? close_len : 0);
  const size_t room = max_size > size ? max_size - size : 0;
  if (room < unit) return LLVMFuzzerMutate(data, size, max_size);
  // Depths spread over orders of magnitude: 10, 100, ..., up to what fits.
  size_t depth = size_t{1} << (rng() % 20);
  depth = std::max<size_t>(1, std::min(depth, room / unit));
  const size_t at = size ? rng() % (size + 1) : 0;
  std::string tail(reinterpret_cast<const char*>(data) + at, size - at);
  std::string middle;
  middle.reserve(depth * unit);
  for (size_t k = 0; k < depth; ++k) middle += o.open;
  if (close)
    for (size_t k = 0; k < depth; ++k) middle += o.close;
  std::memcpy(data + at, middle.data(), middle.size());
  std::memcpy(data + at + middle.size(), tail.data(), tail.size());
  return at + middle.size() + tail.size();
}
