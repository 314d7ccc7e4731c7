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
#include "loom/knowledge/contamination.h"

namespace loom {
namespace fs = std::filesystem;

const std::vector<std::string>& builtin_domain_names() {
  static const std::vector<std::string> names = {"elements", "eng_fra", "eng_spa", "foldoc", "fortunes"};
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
      for (const auto& [field, question] :
           {std::pair{"Symbol", "chemical symbol"}, {"Atomic number", "atomic number"}}) {
        const std::string key = std::string(field) + ":";
        if (line.rfind(key, 0) == 0 && !trim(line.substr(key.size())).empty())
          facts.push_back({"Element: " + element + "\n" + key, " " + trim(line.substr(key.size())), element,
                           "Q: What is the " + std::string(question) + " of " + element + "?\nA:"});
      }
    }
    if (!facts.empty()) groups.push_back(std::move(facts));
  }
  return groups;
}

// English -> `language` word pairs from a FreeDict dictionary (freedict-eng-xxx).
std::vector<PromptCompletion> freedict_pairs(const DomainOptions& o, const std::string& name,
                                             const std::string& language) {
  std::vector<PromptCompletion> out;
  std::set<std::string> seen;
  for (const auto& e : dictionary(o, name, "dict-" + name)) {
    auto lines = lines_of(e.definition);
    std::string french;
    for (size_t i = 1; i < lines.size() && french.empty(); ++i) french = trim(lines[i]);
    french = trim(french.substr(0, french.find(',')));  // the first of several translations
    // Numbered senses ("1. ...") and notes are not single translations.
    if (french.empty() || french.size() > 40 || french.find_first_of("0123456789()<>:;") != std::string::npos) continue;
    if (!seen.insert(e.headword).second) continue;
    // A word that is its own translation ("alpha" -> "alpha") adds no knowledge.
    if (corpus_words(french) == corpus_words(e.headword)) continue;
    out.push_back({"English: " + e.headword + "\n" + language + ":", " " + french, e.headword,
                   "Q: What is the " + language + " word for " + e.headword + "?\nA:"});
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
    out.push_back({"Define: " + e.headword + "\nMeaning:", " " + sentence, e.headword,
                   "Q: What does " + e.headword + " mean?\nA:"});
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
    std::string start, completion;
    for (size_t i = 0; i < words.size(); ++i) (i < prompt_words ? start : completion) += " " + words[i];
    out.push_back({"Quote:" + start, completion, "", "Q: How does the quote" + start + " go on?\nA:"});
  }
  return out;
}

// The first sentence of a dictionary entry's first paragraph of prose:
// skips the headword line, part-of-speech and pronunciation lines and
// [bracketed] notes, drops {cross-reference} braces and a leading "1. ".
std::string first_prose_sentence(const std::string& body) {
  auto lines = lines_of(body);
  std::string paragraph;
  auto take = [&]() -> std::string {
    std::string plain;
    int square = 0;
    for (char c : paragraph) {
      if (c == '[')
        ++square;
      else if (c == ']' && square > 0)
        --square;
      else if (square == 0 && c != '{' && c != '}')
        plain += c;
    }
    plain = collapse_spaces(plain);
    if (plain.size() > 3 && plain[0] == '1' && plain[1] == '.' && plain[2] == ' ') plain = plain.substr(3);
    if (std::count(plain.begin(), plain.end(), ' ') < 3) return "";
    size_t end = plain.find(". ");
    return end == std::string::npos ? plain : plain.substr(0, end + 1);
  };
  for (size_t i = 1; i <= lines.size(); ++i) {
    if (i == lines.size() || trim(lines[i]).empty()) {
      if (std::string s = take(); !s.empty()) return s;
      paragraph.clear();
    } else {
      paragraph += " " + lines[i];
    }
  }
  return "";
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
      out->push_back({jsonl_string_field(row, "prompt", path, line), jsonl_string_field(row, "completion", path, line),
                      "", row.contains("paraphrase") ? jsonl_string_field(row, "paraphrase", path, line) : ""});
    });
    if (out->empty()) throw Error("domain '" + name + "': " + path + " has no rows");
  }
  return d;
}

}  // namespace

std::vector<MultipleChoiceItem> definition_choice_items(const std::string& name, const DomainOptions& o, size_t n,
                                                        uint64_t seed) {
  std::vector<std::pair<std::string, std::string>> entries;  // headword, definition sentence
  std::set<std::string> seen;
  for (const auto& e : dictionary(o, name, "dict-" + name)) {
    std::string sentence = first_prose_sentence(e.definition);
    const size_t words = std::count(sentence.begin(), sentence.end(), ' ') + 1;
    if (sentence.size() < 12 || words > 30 || e.headword.find('\n') != std::string::npos ||
        !seen.insert(e.headword).second)
      continue;
    entries.push_back({trim(e.headword), sentence});
  }
  if (entries.size() < 4) throw Error("dictionary '" + name + "' has fewer than 4 usable entries for choices");
  const auto order = shuffled_indices(entries.size(), seed, 0xC4);
  std::vector<MultipleChoiceItem> items;
  for (size_t k = 0; k < order.size() && (n == 0 || items.size() < n); ++k) {
    const auto& [headword, sentence] = entries[order[k]];
    MultipleChoiceItem item{headword + ":", {" " + sentence}, 0};
    // Three distractors: the next entries in a second seeded order, never the right one.
    const auto others = shuffled_indices(entries.size(), seed + k, 0xC5);
    for (size_t m = 0; m < others.size() && item.choices.size() < 4; ++m)
      if (others[m] != order[k] && entries[others[m]].second != sentence)
        item.choices.push_back(" " + entries[others[m]].second);
    // The right answer's position, seeded.
    item.answer = shuffled_indices(4, seed + k, 0xC6)[0];
    std::swap(item.choices[0], item.choices[item.answer]);
    items.push_back(std::move(item));
  }
  return items;
}

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
    if (spec == "eng_fra" || spec == "eng_spa") {
      d.metric = Metric::EditSimilarity;
      items = spec == "eng_fra" ? freedict_pairs(o, "freedict-eng-fra", "French")
                                : freedict_pairs(o, "freedict-eng-spa", "Spanish");
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
