#include "loom/ot/io.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/ot/solvers.h"

namespace loom::ot {
namespace {

constexpr char kMagic[8] = {'L', 'O', 'O', 'M', 'O', 'T', '0', '1'};

std::vector<double> number_array(const nlohmann::json& j, const std::string& field, const std::string& origin) {
  if (!j.is_array()) throw Error(origin + ": field '" + field + "' must be an array of numbers");
  std::vector<double> out;
  for (size_t k = 0; k < j.size(); ++k) {
    if (!j[k].is_number()) throw Error(origin + ": " + field + "[" + std::to_string(k) + "] is not a number");
    out.push_back(j[k].get<double>());
  }
  return out;
}

}  // namespace

Problem parse_problem_json(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "cost" && it.key() != "a" && it.key() != "b" && it.key() != "order" && it.key() != "method" &&
        it.key() != "reg")
      throw Error(origin + ": unknown field '" + it.key() + "' (valid: cost, a, b, order, method, reg)");
  for (const char* key : {"cost", "a", "b"})
    if (!j.contains(key)) throw Error(origin + ": missing field '" + key + "'");
  Problem p;
  const auto& cost = j["cost"];
  if (!cost.is_array() || cost.empty()) throw Error(origin + ": field 'cost' must be a non-empty array of rows");
  const int64_t m = static_cast<int64_t>(cost.size());
  const int64_t n = cost[0].is_array() ? static_cast<int64_t>(cost[0].size()) : 0;
  p.cost = Matrix(m, n);
  for (int64_t i = 0; i < m; ++i) {
    auto row = number_array(cost[static_cast<size_t>(i)], "cost[" + std::to_string(i) + "]", origin);
    if (static_cast<int64_t>(row.size()) != n)
      throw Error(origin + ": cost[" + std::to_string(i) + "] has " + std::to_string(row.size()) +
                  " entries, expected " + std::to_string(n));
    std::copy(row.begin(), row.end(), p.cost.data.begin() + i * n);
  }
  p.a = number_array(j["a"], "a", origin);
  p.b = number_array(j["b"], "b", origin);
  if (j.contains("order")) {
    if (!j["order"].is_array()) throw Error(origin + ": field 'order' must be an array of [i, j] pairs");
    for (size_t k = 0; k < j["order"].size(); ++k) {
      const auto& c = j["order"][k];
      if (!c.is_array() || c.size() != 2 || !c[0].is_number_integer() || !c[1].is_number_integer())
        throw Error(origin + ": order[" + std::to_string(k) + "] must be a pair of integers [i, j]");
      p.order.push_back({c[0].get<int64_t>(), c[1].get<int64_t>()});
    }
  }
  if (j.contains("method")) {
    if (!j["method"].is_string()) throw Error(origin + ": field 'method' must be a string");
    p.method = j["method"].get<std::string>();
    solvers().get(p.method, origin + ": field 'method'");
  }
  if (j.contains("reg")) {
    if (!j["reg"].is_number()) throw Error(origin + ": field 'reg' must be a number");
    p.reg = j["reg"].get<double>();
  }
  try {
    validate(p.a, p.b, p.cost, p.order);
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return p;
}

Problem read_problem(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return parse_problem_json(std::string(bytes.begin(), bytes.end()), path);
  auto fail = [&](const std::string& why) { return Error(path + ": " + why); };
  if (bytes.size() < 32) throw fail("truncated binary header");
  uint64_t dims[3];
  std::memcpy(dims, bytes.data() + 8, 24);
  const uint64_t m = dims[0], n = dims[1], K = dims[2];
  if (m == 0 || n == 0 || m > (1u << 20) || n > (1u << 20) || K > std::min(m, n))
    throw fail("implausible sizes m=" + std::to_string(m) + " n=" + std::to_string(n) + " K=" + std::to_string(K));
  const uint64_t expected = 32 + 8 * (m + n + m * n) + 16 * K;
  if (bytes.size() != expected)
    throw fail("size " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(expected) +
               " for m=" + std::to_string(m) + " n=" + std::to_string(n) + " K=" + std::to_string(K));
  Problem p;
  const uint8_t* cursor = bytes.data() + 32;
  auto read_doubles = [&](std::vector<double>* out, uint64_t count) {
    out->resize(count);
    std::memcpy(out->data(), cursor, 8 * count);
    cursor += 8 * count;
  };
  read_doubles(&p.a, m);
  read_doubles(&p.b, n);
  p.cost = Matrix(static_cast<int64_t>(m), static_cast<int64_t>(n));
  read_doubles(&p.cost.data, m * n);
  for (uint64_t k = 0; k < K; ++k) {
    int64_t ij[2];
    std::memcpy(ij, cursor, 16);
    cursor += 16;
    p.order.push_back({ij[0], ij[1]});
  }
  try {
    validate(p.a, p.b, p.cost, p.order);
  } catch (const Error& e) {
    throw fail(e.what());
  }
  return p;
}

void write_problem_binary(const std::string& path, const Problem& p) {
  validate(p.a, p.b, p.cost, p.order);
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  auto put = [&](const void* data, size_t n) {
    const auto* b = static_cast<const uint8_t*>(data);
    out.insert(out.end(), b, b + n);
  };
  uint64_t dims[3] = {static_cast<uint64_t>(p.cost.rows), static_cast<uint64_t>(p.cost.cols), p.order.size()};
  put(dims, 24);
  put(p.a.data(), 8 * p.a.size());
  put(p.b.data(), 8 * p.b.size());
  put(p.cost.data.data(), 8 * p.cost.data.size());
  for (auto [i, j] : p.order) {
    int64_t ij[2] = {i, j};
    put(ij, 16);
  }
  write_file_atomic(path, out.data(), out.size());
}

}  // namespace loom::ot
