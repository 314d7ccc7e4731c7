// loom ot: order-constrained optimal transport from the command line.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/corpus.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/ot/explain.h"
#include "loom/ot/io.h"
#include "loom/ot/solvers.h"
#include "loom/ot/word_vectors.h"

namespace loom::cli {

void setup_ot_explain(CLI::App* sub);

void setup_ot(CLI::App* sub) {
  sub->require_subcommand(1);
  setup_ot_explain(sub);
  auto solve = sub->add_subcommand("solve", "solve one problem given as JSON or binary (.otb)");
  struct Args {
    std::string input, method, binary_out;
    double reg = -1;
  };
  auto a = std::make_shared<Args>();
  solve->add_option("--input", a->input, "problem file: JSON {cost, a, b, order, method} or binary .otb");
  solve->add_option("--method", a->method, "overrides the file's method: " + ot::solvers().valid_names());
  solve->add_option("--reg", a->reg, "entropic regularisation for sinkhorn");
  solve->add_option("--write-binary", a->binary_out, "also write the problem in the binary format to this path");
  // Every solver's options (declared once, in its ParamSchema) as flags and config keys.
  run_with_params(solve, ot::solver_param_specs(), [a](const Params& options) {
    if (a->input.empty()) throw Error("ot solve: --input FILE is required");
    if (!a->method.empty()) ot::solvers().get(a->method, "--method");
    ot::Problem p = ot::read_problem(a->input);
    if (!a->method.empty()) p.method = a->method;
    if (a->reg > 0) p.reg = a->reg;
    if (!a->binary_out.empty()) ot::write_problem_binary(a->binary_out, p);
    ot::Result r = ot::solve(p, options);
    nlohmann::json plan = nlohmann::json::array();
    for (int64_t i = 0; i < r.plan.rows; ++i)
      plan.push_back(
          std::vector<double>(r.plan.data.begin() + i * r.plan.cols, r.plan.data.begin() + (i + 1) * r.plan.cols));
    nlohmann::json out = {{"plan", plan},       {"cost", r.cost},
                          {"status", r.status}, {"iterations", r.iterations},
                          {"method", p.method}, {"marginal_error", r.marginal_error}};
    if (!r.u.empty()) out["u"] = r.u, out["v"] = r.v;
    if (p.method == "admm")
      out["residuals"] = {
          {"primal", r.primal_residual}, {"dual", r.dual_residual}, {"lower_bound", r.lower_bound}, {"gap", r.gap}};
    std::cout << out.dump() << "\n";
  });
}

namespace {

// The vectors a sentence alignment uses: a given file (GloVe text format), or
// ones derived from the default corpus and cached under data/.
ot::WordVectors sentence_vectors(const std::string& path, const std::string& corpus) {
  if (!path.empty()) return ot::WordVectors::load(path);
  const std::string cached = "data/word-vectors.txt";
  if (std::filesystem::exists(cached)) return ot::WordVectors::load(cached);
  if (!std::filesystem::exists(corpus))
    build_default_corpus(CorpusOptions{}, std::filesystem::path(corpus).parent_path());
  std::vector<std::string> texts;
  for_each_jsonl(corpus, [&](const nlohmann::json& row, size_t) { texts.push_back(row.value("text", "")); });
  std::cerr << "loom: deriving word vectors from " << corpus << " (cached in " << cached << ")\n";
  auto vectors = ot::train_word_vectors(texts, {});
  vectors.save(cached);
  return vectors;
}

nlohmann::json explain_sentences(const ot::WordVectors& vectors, const std::vector<std::string>& premise,
                                 const std::vector<std::string>& hypothesis, const ot::ExplainOptions& options,
                                 bool print) {
  if (premise.empty() || hypothesis.empty()) throw Error("ot explain: both sentences need at least one word");
  std::vector<double> a(premise.size(), 1.0 / static_cast<double>(premise.size()));
  std::vector<double> b(hypothesis.size(), 1.0 / static_cast<double>(hypothesis.size()));
  ot::Matrix cost = ot::word_distance_cost(vectors, premise, hypothesis);
  auto base = ot::emd(a, b, cost);
  auto alternatives = ot::explain_by_order(a, b, cost, options);
  auto matches = [&](const ot::Matrix& plan) {
    nlohmann::json out = nlohmann::json::array();
    for (int64_t i = 0; i < plan.rows; ++i)
      for (int64_t j = 0; j < plan.cols; ++j)
        if (plan(i, j) > 0.5 * std::min(a[static_cast<size_t>(i)], b[static_cast<size_t>(j)]))
          out.push_back({premise[static_cast<size_t>(i)], hypothesis[static_cast<size_t>(j)], plan(i, j)});
    return out;
  };
  nlohmann::json out = {{"premise", premise},
                        {"hypothesis", hypothesis},
                        {"base_cost", base.cost},
                        {"base_matches", matches(base.plan)},
                        {"alternatives", nlohmann::json::array()}};
  if (print) {
    std::cout << "plain OT (cost " << base.cost << "):";
    for (const auto& m : out["base_matches"])
      std::cout << "  " << m[0].get<std::string>() << "~" << m[1].get<std::string>();
    std::cout << "\n";
  }
  for (const auto& alt : alternatives) {
    nlohmann::json forced = nlohmann::json::array();
    for (auto [i, j] : alt.order)
      forced.push_back({premise[static_cast<size_t>(i)], hypothesis[static_cast<size_t>(j)]});
    out["alternatives"].push_back({{"forced", forced},
                                   {"cost", alt.result.cost},
                                   {"cost_increase", alt.result.cost - base.cost},
                                   {"lower_bound", alt.lower_bound},
                                   {"matches", matches(alt.result.plan)}});
    if (print) {
      std::cout << "forcing";
      for (const auto& f : forced) std::cout << " " << f[0].get<std::string>() << "~" << f[1].get<std::string>();
      std::cout << " (+" << alt.result.cost - base.cost << "):";
      for (const auto& m : out["alternatives"].back()["matches"])
        std::cout << "  " << m[0].get<std::string>() << "~" << m[1].get<std::string>();
      std::cout << "\n";
    }
  }
  return out;
}

}  // namespace

namespace {

struct ExplainCommandOptions {
  std::string input, premise, hypothesis, vectors, corpus = "data/corpus/train.jsonl", eraser, split = "val";
  int64_t limit = 5;
  bool json = false;
  ot::ExplainOptions options;
};

const ParamSchema<ExplainCommandOptions>& explain_schema() {
  using O = ExplainCommandOptions;
  static const ParamSchema<O> schema = [] {
    auto opt = [](auto member) {
      return [member](O & o) -> auto& { return o.options.*member; };
    };
    ParamSchema<O> s;
    s.add("input", &O::input, "problem file (JSON or .otb); its order is ignored")
        .add("premise", &O::premise, "first sentence (rows)")
        .add("hypothesis", &O::hypothesis, "second sentence (columns)")
        .add("eraser", &O::eraser, "an ERASER-format e-SNLI directory (docs/ + SPLIT.jsonl)")
        .add("split", &O::split, "ERASER split")
        .add("limit", &O::limit, "ERASER examples to explain", {1, 1e9})
        .add("vectors", &O::vectors, "word vectors in GloVe text format; empty = derived from the corpus")
        .add("corpus", &O::corpus, "corpus for deriving word vectors")
        .add("json", &O::json, "print JSON only")
        .add_nested<int64_t>("plans", opt(&ot::ExplainOptions::plans), "alternative plans returned (k2)", {1, 1000})
        .add_nested<int64_t>("nodes", opt(&ot::ExplainOptions::nodes), "search nodes expanded (k1)", {1, 100000})
        .add_nested<int64_t>("depth", opt(&ot::ExplainOptions::depth), "forced cells per plan (k3)", {1, 16})
        .add_nested<double>("tau_cell", opt(&ot::ExplainOptions::tau_cell), "candidate: normalised mass at most this",
                            {0, 1})
        .add_nested<double>("tau_line", opt(&ot::ExplainOptions::tau_line),
                            "candidate: its row or column maximum at most this", {0, 1});
    return s;
  }();
  return schema;
}

}  // namespace

void setup_ot_explain(CLI::App* sub) {
  auto explain = sub->add_subcommand(
      "explain", "alternative plans, each forcing one salient match (tree search), for a problem or two sentences");
  run_with_options<ExplainCommandOptions>(explain, explain_schema(), [](const ExplainCommandOptions& o) {
    const ExplainCommandOptions* a = &o;
    if (!a->input.empty()) {
      ot::Problem p = ot::read_problem(a->input);
      auto base = ot::emd(p.a, p.b, p.cost);
      nlohmann::json out = {{"base_cost", base.cost}, {"alternatives", nlohmann::json::array()}};
      for (const auto& alt : ot::explain_by_order(p.a, p.b, p.cost, a->options)) {
        nlohmann::json order = nlohmann::json::array();
        for (auto [i, j] : alt.order) order.push_back({i, j});
        out["alternatives"].push_back({{"order", order},
                                       {"cost", alt.result.cost},
                                       {"cost_increase", alt.result.cost - base.cost},
                                       {"lower_bound", alt.lower_bound}});
      }
      std::cout << out.dump() << "\n";
      return;
    }
    ot::WordVectors vectors = sentence_vectors(a->vectors, a->corpus);
    if (!a->eraser.empty()) {
      for (const auto& ex : ot::read_eraser_esnli(a->eraser, a->split, a->limit)) {
        if (!a->json) std::cout << "# " << ex.id << " (" << ex.label << ")\n";
        auto out = explain_sentences(vectors, ex.premise, ex.hypothesis, a->options, !a->json);
        out["id"] = ex.id;
        out["label"] = ex.label;
        out["premise_rationale"] = ex.premise_rationale;
        out["hypothesis_rationale"] = ex.hypothesis_rationale;
        if (a->json) std::cout << out.dump() << "\n";
      }
      return;
    }
    if (a->premise.empty() || a->hypothesis.empty())
      throw Error("ot explain: give --input FILE, --premise and --hypothesis, or --eraser DIR");
    auto out =
        explain_sentences(vectors, ot::split_words(a->premise), ot::split_words(a->hypothesis), a->options, !a->json);
    std::cout << out.dump() << "\n";
  });
}

}  // namespace loom::cli
