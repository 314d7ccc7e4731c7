#include "loom/knowledge/domains.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "loom/core/corpus.h"
#include "loom/core/dataset.h"
#include "loom/core/dictd.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"

namespace loom {
namespace fs = std::filesystem;

const std::vector<std::string>& builtin_domain_names() {
  static const std::vector<std::string> names = {"elements", "eng_fra", "foldoc", "fortunes"};
  return names;
}

template <typename Item>
void split_items(std::vector<Item> items, double test_fraction, uint64_t seed, std::vector<Item>* train,
                 std::vector<Item>* test) {
  auto order = shuffled_indices(items.size(), seed, 0xD0);
  const size_t n_test = static_cast<size_t>(static_cast<double>(items.size()) * test_fraction + 0.5);
  for (size_t k = 0; k < order.size(); ++k) (k < n_test ? test : train)->push_back(std::move(items[order[k]]));
}
template void split_items(std::vector<PromptCompletion>, double, uint64_t, std::vector<PromptCompletion>*,
                          std::vector<PromptCompletion>*);

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string collapse_spaces(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  return trim(out);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<DictEntry> dictionary(const DomainOptions& o, const std::string& name, const std::string& package) {
  const std::string base = o.dictd_dir + "/" + name;
  if (!fs::exists(base + ".index"))
    throw Error(base + ".index not found: install the Debian package " + package + " (scripts/setup-deps.sh does)");
  return read_dictd(base);
}

// One element: its facts as (question, answer) pairs, kept together in the split.
using FactGroup = std::vector<PromptCompletion>;

std::vector<FactGroup> element_facts(const DomainOptions& o) {
  std::vector<FactGroup> groups;
  for (const auto& e : dictionary(o, "elements", "dict-elements")) {
    FactGroup facts;
    const std::string element = trim(lines_of(e.definition).empty() ? e.headword : lines_of(e.definition)[0]);
    for (const auto& line : lines_of(e.definition)) {
      for (const char* field : {"Symbol", "Atomic number"}) {
        const std::string key = std::string(field) + ":";
        if (line.rfind(key, 0) == 0 && !trim(line.substr(key.size())).empty())
          facts.push_back({"Element: " + element + "\n" + key, " " + trim(line.substr(key.size()))});
      }
    }
    if (!facts.empty()) groups.push_back(std::move(facts));
  }
  return groups;
}

std::vector<PromptCompletion> eng_fra_pairs(const DomainOptions& o) {
  std::vector<PromptCompletion> out;
  std::set<std::string> seen;
  for (const auto& e : dictionary(o, "freedict-eng-fra", "dict-freedict-eng-fra")) {
    auto lines = lines_of(e.definition);
    std::string french;
    for (size_t i = 1; i < lines.size() && french.empty(); ++i) french = trim(lines[i]);
    french = trim(french.substr(0, french.find(',')));  // the first of several translations
    // Numbered senses ("1. ...") and notes are not single translations.
    if (french.empty() || french.size() > 40 || french.find_first_of("0123456789()<>:;") != std::string::npos) continue;
    if (!seen.insert(e.headword).second) continue;
    out.push_back({"English: " + e.headword + "\nFrench:", " " + french});
  }
  return out;
}

// FOLDOC bodies: "<tag> text with {cross references}"; keep the first sentence.
std::string foldoc_first_sentence(const std::string& body) {
  auto lines = lines_of(body);
  std::string text;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (trim(lines[i]).empty() && !trim(text).empty()) break;
    text += " " + lines[i];
  }
  std::string plain;
  bool in_tag = false;
  for (char c : text) {
    if (c == '<')
      in_tag = true;
    else if (c == '>' && in_tag)
      in_tag = false;
    else if (!in_tag && c != '{' && c != '}')
      plain += c;
  }
  plain = collapse_spaces(plain);
  size_t end = plain.find(". ");
  if (end != std::string::npos) plain = plain.substr(0, end + 1);
  return plain;
}

std::vector<PromptCompletion> foldoc_definitions(const DomainOptions& o) {
  std::vector<PromptCompletion> out;
  std::set<std::string> seen;
  for (const auto& e : dictionary(o, "foldoc", "dict-foldoc")) {
    std::string sentence = foldoc_first_sentence(e.definition);
    const size_t words = std::count(sentence.begin(), sentence.end(), ' ') + 1;
    if (sentence.size() < 12 || words > 30 || !seen.insert(e.headword).second) continue;
    out.push_back({"Define: " + e.headword + "\nMeaning:", " " + sentence});
  }
  return out;
}

std::vector<PromptCompletion> fortune_continuations(const DomainOptions& o) {
  if (!fs::is_directory(o.fortunes_dir))
    throw Error(o.fortunes_dir + " not found: install the Debian package fortunes (scripts/setup-deps.sh does)");
  std::vector<PromptCompletion> out;
  const size_t prompt_words = 6, max_completion_words = 16;
  for (const auto& quote : read_fortunes(o.fortunes_dir)) {
    std::istringstream in(collapse_spaces(quote));
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (words.size() < prompt_words + 3 || words.size() > prompt_words + max_completion_words) continue;
    std::string prompt = "Quote:", completion;
    for (size_t i = 0; i < words.size(); ++i) (i < prompt_words ? prompt : completion) += " " + words[i];
    out.push_back({prompt, completion});
  }
  return out;
}

void cap(std::vector<PromptCompletion>* v, size_t n) {
  if (n > 0 && v->size() > n) v->resize(n);
}

Domain user_domain(const std::string& spec) {
  const size_t eq = spec.find('=');
  const std::string name = spec.substr(0, eq);
  std::string dir = spec.substr(eq + 1), metric = "exact_match";
  if (size_t at = dir.rfind('@'); at != std::string::npos) {
    metric = dir.substr(at + 1);
    dir = dir.substr(0, at);
  }
  if (name.empty()) throw Error("domain '" + spec + "': empty name before '='");
  Domain d;
  d.name = name;
  d.metric = metric_from_name(metric, "domain '" + spec + "'");
  for (auto [file, out] : {std::pair{"train.jsonl", &d.train}, std::pair{"test.jsonl", &d.test}}) {
    const std::string path = dir + "/" + file;
    if (!fs::exists(path)) throw Error("domain '" + name + "': " + path + " not found");
    for_each_jsonl(path, [&, out = out](const nlohmann::json& row, size_t line) {
      out->push_back(
          {jsonl_string_field(row, "prompt", path, line), jsonl_string_field(row, "completion", path, line)});
    });
    if (out->empty()) throw Error("domain '" + name + "': " + path + " has no rows");
  }
  return d;
}

}  // namespace

Domain build_domain(const std::string& spec, const DomainOptions& o) {
  if (spec.find('=') != std::string::npos) return user_domain(spec);
  Domain d;
  d.name = spec;
  if (spec == "elements") {
    d.metric = Metric::ExactMatch;
    std::vector<FactGroup> train_groups, test_groups;
    split_items(element_facts(o), o.test_fraction, o.seed, &train_groups, &test_groups);
    for (auto& g : train_groups) d.train.insert(d.train.end(), g.begin(), g.end());
    for (auto& g : test_groups) d.test.insert(d.test.end(), g.begin(), g.end());
  } else {
    std::vector<PromptCompletion> items;
    if (spec == "eng_fra") {
      d.metric = Metric::EditSimilarity;
      items = eng_fra_pairs(o);
    } else if (spec == "foldoc") {
      d.metric = Metric::RougeL;
      items = foldoc_definitions(o);
    } else if (spec == "fortunes") {
      d.metric = Metric::RougeL;
      items = fortune_continuations(o);
    } else {
      std::string valid;
      for (const auto& n : builtin_domain_names()) valid += (valid.empty() ? "" : ", ") + n;
      throw Error("unknown domain '" + spec + "'; valid: " + valid + ", or NAME=DIR[@METRIC] for your own JSONL");
    }
    split_items(std::move(items), o.test_fraction, o.seed, &d.train, &d.test);
  }
  cap(&d.train, o.max_train);
  cap(&d.test, o.max_test);
  if (d.train.empty() || d.test.empty()) throw Error("domain '" + spec + "' has an empty train or test split");
  return d;
}

}  // namespace loom
