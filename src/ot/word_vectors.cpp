#include "loom/ot/word_vectors.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"

namespace loom::ot {

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalpha(c) || (c == '\'' && !current.empty())) {
      current += static_cast<char>(std::tolower(c));
    } else if (!current.empty()) {
      words.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(current);
  return words;
}

std::vector<double> WordVectors::vector(const std::string& word) const {
  auto it = index_.find(word);
  if (it != index_.end()) return values_[it->second];
  std::mt19937_64 rng(std::hash<std::string>{}(word));
  std::normal_distribution<double> g;
  std::vector<double> v(static_cast<size_t>(dim_));
  double norm = 0;
  for (auto& x : v) {
    x = g(rng);
    norm += x * x;
  }
  for (auto& x : v) x /= std::sqrt(norm);
  return v;
}

void WordVectors::add(const std::string& word, std::vector<double> values) {
  if (dim_ == 0) dim_ = static_cast<int64_t>(values.size());
  if (static_cast<int64_t>(values.size()) != dim_)
    throw Error("word vectors: inconsistent dimension for '" + word + "'");
  index_[word] = words_.size();
  words_.push_back(word);
  values_.push_back(std::move(values));
}

void WordVectors::save(const std::string& path) const {
  std::ostringstream out;
  out.precision(6);
  for (size_t i = 0; i < words_.size(); ++i) {
    out << words_[i];
    for (double x : values_[i]) out << ' ' << x;
    out << '\n';
  }
  write_file_atomic(path, out.str());
}

WordVectors WordVectors::load(const std::string& path) {
  std::istringstream in(read_file_text(path));
  WordVectors v;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream fields(line);
    std::string word;
    if (!(fields >> word)) continue;
    std::vector<double> values;
    std::string token;
    while (fields >> token) {
      char* end = nullptr;
      double x = std::strtod(token.c_str(), &end);
      if (*end != '\0' || !std::isfinite(x))
        throw Error(path + ":" + std::to_string(line_no) + ": '" + token + "' is not a number");
      values.push_back(x);
    }
    // word2vec's text format starts with "COUNT DIM"; skip that header.
    if (line_no == 1 && values.size() == 1 && std::all_of(word.begin(), word.end(), ::isdigit)) continue;
    if (values.empty()) throw Error(path + ":" + std::to_string(line_no) + ": no vector after '" + word + "'");
    if (v.dim_ != 0 && static_cast<int64_t>(values.size()) != v.dim_)
      throw Error(path + ":" + std::to_string(line_no) + ": " + std::to_string(values.size()) + " values, expected " +
                  std::to_string(v.dim_));
    v.add(word, std::move(values));
  }
  if (v.words_.empty()) throw Error(path + ": no word vectors");
  return v;
}

namespace {

using Dense = std::vector<std::vector<double>>;  // columns of a V x k block

void orthonormalise(Dense* cols) {
  for (size_t c = 0; c < cols->size(); ++c) {
    auto& v = (*cols)[c];
    for (size_t p = 0; p < c; ++p) {
      const auto& u = (*cols)[p];
      double dot = 0;
      for (size_t i = 0; i < v.size(); ++i) dot += u[i] * v[i];
      for (size_t i = 0; i < v.size(); ++i) v[i] -= dot * u[i];
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    for (auto& x : v) x = norm > 1e-12 ? x / norm : 0.0;
  }
}

// Jacobi eigen-decomposition of a small symmetric matrix (in place):
// returns eigenvalues, eigenvectors in columns of `vectors`.
std::vector<double> jacobi_eigen(std::vector<std::vector<double>> a, std::vector<std::vector<double>>* vectors) {
  const size_t n = a.size();
  auto& v = *vectors;
  v.assign(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) v[i][i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (size_t p = 0; p < n; ++p)
      for (size_t q = p + 1; q < n; ++q) off += a[p][q] * a[p][q];
    if (off < 1e-22) break;
    for (size_t p = 0; p < n; ++p)
      for (size_t q = p + 1; q < n; ++q) {
        if (std::abs(a[p][q]) < 1e-300) continue;
        double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        double t = (theta >= 0 ? 1 : -1) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (size_t k = 0; k < n; ++k) {
          double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < n; ++k) {
          double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (size_t k = 0; k < n; ++k) {
          double vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<double> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = a[i][i];
  return values;
}

}  // namespace

WordVectors train_word_vectors(const std::vector<std::string>& texts, const WordVectorOptions& o) {
  std::vector<std::vector<std::string>> docs;
  std::map<std::string, int64_t> counts;
  for (const auto& t : texts) {
    docs.push_back(split_words(t));
    for (const auto& w : docs.back()) ++counts[w];
  }
  std::vector<std::pair<int64_t, std::string>> ranked;
  for (auto& [w, c] : counts) ranked.push_back({-c, w});
  std::sort(ranked.begin(), ranked.end());
  const size_t V = std::min<size_t>(ranked.size(), static_cast<size_t>(o.vocab_size));
  if (V < static_cast<size_t>(o.dimensions) + 8) throw Error("word vectors: the corpus has too few distinct words");
  std::unordered_map<std::string, int32_t> id;
  std::vector<std::string> vocab;
  for (size_t i = 0; i < V; ++i) {
    id[ranked[i].second] = static_cast<int32_t>(i);
    vocab.push_back(ranked[i].second);
  }
  // Symmetric co-occurrence counts within the window, weighted 1/distance.
  std::unordered_map<uint64_t, double> co;
  std::vector<double> marginal(V, 0.0);
  double total = 0;
  for (const auto& doc : docs) {
    std::vector<int32_t> ids;
    for (const auto& w : doc) {
      auto it = id.find(w);
      ids.push_back(it == id.end() ? -1 : it->second);
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0) continue;
      for (size_t d = 1; d <= static_cast<size_t>(o.window) && i + d < ids.size(); ++d) {
        if (ids[i + d] < 0) continue;
        double w = 1.0 / static_cast<double>(d);
        uint32_t p = static_cast<uint32_t>(std::min(ids[i], ids[i + d])),
                 q = static_cast<uint32_t>(std::max(ids[i], ids[i + d]));
        co[(static_cast<uint64_t>(p) << 32) | q] += w;
        marginal[p] += w;
        marginal[q] += w;
        total += 2 * w;
      }
    }
  }
  // PPMI entries as a sparse symmetric list.
  struct Entry {
    uint32_t p, q;
    double value;
  };
  std::vector<Entry> entries;
  for (auto& [key, c] : co) {
    uint32_t p = static_cast<uint32_t>(key >> 32), q = static_cast<uint32_t>(key & 0xFFFFFFFF);
    double pmi = std::log(c * total / (marginal[p] * marginal[q]));
    if (pmi > 0) entries.push_back({p, q, pmi});
  }
  auto multiply = [&](const Dense& x) {  // M x for the symmetric PPMI matrix
    Dense y(x.size(), std::vector<double>(V, 0.0));
    for (size_t c = 0; c < x.size(); ++c)
      for (const auto& e : entries) {
        y[c][e.p] += e.value * x[c][e.q];
        if (e.p != e.q) y[c][e.q] += e.value * x[c][e.p];
      }
    return y;
  };
  // Randomised subspace iteration for the top eigenvectors of M.
  const size_t k = static_cast<size_t>(o.dimensions), width = k + 8;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> g;
  Dense q(width, std::vector<double>(V));
  for (auto& col : q)
    for (auto& x : col) x = g(rng);
  orthonormalise(&q);
  for (int64_t it = 0; it < o.power_iterations; ++it) {
    q = multiply(q);
    orthonormalise(&q);
  }
  Dense mq = multiply(q);
  std::vector<std::vector<double>> small(width, std::vector<double>(width, 0.0)), eigvec;
  for (size_t i = 0; i < width; ++i)
    for (size_t j = 0; j < width; ++j)
      for (size_t t = 0; t < V; ++t) small[i][j] += q[i][t] * mq[j][t];
  std::vector<double> eig = jacobi_eigen(small, &eigvec);
  std::vector<size_t> order(width);
  for (size_t i = 0; i < width; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return eig[x] > eig[y]; });
  WordVectors out;
  for (size_t w = 0; w < V; ++w) {
    std::vector<double> v(k, 0.0);
    for (size_t d = 0; d < k; ++d) {
      size_t e = order[d];
      double scale = std::sqrt(std::max(eig[e], 0.0));
      double comp = 0;
      for (size_t i = 0; i < width; ++i) comp += q[i][w] * eigvec[i][e];
      v[d] = comp * scale;
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    for (auto& x : v) x = norm > 0 ? x / std::sqrt(norm) : 0.0;
    out.add(vocab[w], std::move(v));
  }
  return out;
}

Matrix word_distance_cost(const WordVectors& vectors, const std::vector<std::string>& rows,
                          const std::vector<std::string>& cols) {
  Matrix c(static_cast<int64_t>(rows.size()), static_cast<int64_t>(cols.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    auto u = vectors.vector(rows[i]);
    for (size_t j = 0; j < cols.size(); ++j) {
      auto v = vectors.vector(cols[j]);
      double d = 0;
      for (size_t t = 0; t < u.size(); ++t) d += (u[t] - v[t]) * (u[t] - v[t]);
      c(static_cast<int64_t>(i), static_cast<int64_t>(j)) = std::sqrt(d);
    }
  }
  return c;
}

std::vector<EsnliExample> read_eraser_esnli(const std::string& dir, const std::string& split, int64_t limit) {
  auto read_tokens = [&](const std::string& docid) {
    std::string path = dir + "/docs/" + docid;
    std::istringstream in(read_file_text(path));
    std::vector<std::string> tokens;
    std::string t;
    while (in >> t) tokens.push_back(t);
    return tokens;
  };
  std::vector<EsnliExample> out;
  const std::string path = dir + "/" + split + ".jsonl";
  for_each_jsonl(path, [&](const nlohmann::json& row, size_t line) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) return;
    EsnliExample ex;
    ex.id = jsonl_string_field(row, "annotation_id", path, line);
    if (row.contains("classification") && row["classification"].is_string()) ex.label = row["classification"];
    ex.premise = read_tokens(ex.id + "_premise");
    ex.hypothesis = read_tokens(ex.id + "_hypothesis");
    if (row.contains("evidences") && row["evidences"].is_array())
      for (const auto& group : row["evidences"])
        for (const auto& ev : group) {
          if (!ev.is_object() || !ev.contains("docid") || !ev["docid"].is_string() || !ev.contains("start_token") ||
              !ev["start_token"].is_number_integer() || !ev.contains("end_token") ||
              !ev["end_token"].is_number_integer())
            throw Error(path + ":" + std::to_string(line) + ": evidence needs docid, start_token, end_token");
          std::string docid = ev["docid"];
          bool premise = docid == ex.id + "_premise";
          auto& target = premise ? ex.premise_rationale : ex.hypothesis_rationale;
          int64_t size = static_cast<int64_t>(premise ? ex.premise.size() : ex.hypothesis.size());
          for (int64_t t = ev["start_token"].get<int64_t>(); t < ev["end_token"].get<int64_t>(); ++t) {
            if (t < 0 || t >= size)
              throw Error(path + ":" + std::to_string(line) + ": evidence token " + std::to_string(t) + " is outside " +
                          docid);
            target.push_back(t);
          }
        }
    out.push_back(std::move(ex));
  });
  return out;
}

}  // namespace loom::ot
