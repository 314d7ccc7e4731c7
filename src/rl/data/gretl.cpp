// gretl's .gdt data files: XML, usually gzipped (zlib reads both). The
// format as gretl-data ships it:
//   <gretldata name=".." frequency="7" startobs="2011-01-01" ...>
//   <variables count="N"> <variable name=".." .../> ... </variables>
//   <observations count="M" labels="true|false"> <obs [label=".."]>v1 v2 ...</obs> ... </observations>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "../rl_util.h"
#include "loom/core/error.h"
#include "loom/rl/data.h"

namespace loom::rl {
namespace {

std::string read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(f, &code);
      gzclose(f);
      throw Error(path + ": not a readable gzip or text file (" + message + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (size_t{1} << 30)) {
      gzclose(f);
      throw Error(path + ": larger than 1 GiB decompressed");
    }
  }
  gzclose(f);
  return out;
}

class Scanner {
 public:
  Scanner(const std::string& text, const std::string& path) : text_(text), path_(path) {}
  // Position of the next "<tag" (followed by a space, '>' or '/'), from `from`.
  size_t find_tag(const std::string& tag, size_t from) const {
    for (size_t p = text_.find("<" + tag, from); p != std::string::npos; p = text_.find("<" + tag, p + 1)) {
      const char c = p + tag.size() + 1 < text_.size() ? text_[p + tag.size() + 1] : '\0';
      if (c == ' ' || c == '>' || c == '/' || c == '\n' || c == '\t' || c == '\r') return p;
    }
    return std::string::npos;
  }
  size_t end_of_tag(size_t start) const {
    const size_t e = text_.find('>', start);
    if (e == std::string::npos) fail(start, "unterminated element");
    return e;
  }
  // Attribute value within [start, end) or "" when absent.
  std::string attribute(size_t start, size_t end, const std::string& name) const {
    const std::string key = " " + name + "=\"";
    size_t p = text_.find(key, start);
    if (p == std::string::npos || p >= end) {
      const std::string key2 = "\n" + name + "=\"";
      p = text_.find(key2, start);
      if (p == std::string::npos || p >= end) return "";
    }
    p += key.size();
    const size_t q = text_.find('"', p);
    if (q == std::string::npos || q > end) fail(start, "attribute " + name + " is not closed");
    return unescape(text_.substr(p, q - p));
  }
  [[noreturn]] void fail(size_t at, const std::string& message) const {
    const size_t line = 1 + static_cast<size_t>(std::count(
                                text_.begin(), text_.begin() + static_cast<long>(std::min(at, text_.size())), '\n'));
    throw Error(path_ + ":" + std::to_string(line) + ": " + message);
  }
  const std::string& text() const { return text_; }

 private:
  static std::string unescape(std::string s) {
    const std::pair<const char*, const char*> table[] = {
        {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
    for (const auto& [from, to] : table)
      for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + 1))
        s.replace(p, std::strlen(from), to);
    return s;
  }
  const std::string& text_;
  std::string path_;
};

int64_t parse_count(const Scanner& s, size_t at, const std::string& value, const std::string& what) {
  size_t used = 0;
  long long n = -1;
  try {
    n = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || n < 0 || n > 100000000) s.fail(at, what + " count '" + value + "' is not a count");
  return n;
}

}  // namespace

GretlData read_gretl(const std::string& path) {
  const std::string text = read_gz(path);
  Scanner s(text, path);
  GretlData d;
  const size_t root = s.find_tag("gretldata", 0);
  if (root == std::string::npos) throw Error(path + ": not a gretl data file (no <gretldata> element)");
  const size_t root_end = s.end_of_tag(root);
  d.name = s.attribute(root, root_end, "name");
  const std::string frequency = s.attribute(root, root_end, "frequency");
  const std::string startobs = s.attribute(root, root_end, "startobs");
  const size_t vars = s.find_tag("variables", root_end);
  if (vars == std::string::npos) s.fail(root, "no <variables> element");
  const size_t vars_end = s.end_of_tag(vars);
  const int64_t nvars = parse_count(s, vars, s.attribute(vars, vars_end, "count"), "variables");
  size_t at = vars_end;
  for (int64_t k = 0; k < nvars; ++k) {
    const size_t v = s.find_tag("variable", at);
    if (v == std::string::npos)
      s.fail(at, "expected " + std::to_string(nvars) + " <variable> elements, found " + std::to_string(k));
    const size_t v_end = s.end_of_tag(v);
    const std::string name = s.attribute(v, v_end, "name");
    if (name.empty()) s.fail(v, "a <variable> without a name");
    d.variables.push_back(name);
    at = v_end;
  }
  const size_t obs = s.find_tag("observations", at);
  if (obs == std::string::npos) s.fail(at, "no <observations> element");
  const size_t obs_end = s.end_of_tag(obs);
  const int64_t nobs = parse_count(s, obs, s.attribute(obs, obs_end, "count"), "observations");
  const bool labels = s.attribute(obs, obs_end, "labels") == "true";
  at = obs_end;
  for (int64_t k = 0; k < nobs; ++k) {
    const size_t o = s.find_tag("obs", at);
    if (o == std::string::npos)
      s.fail(at, "expected " + std::to_string(nobs) + " <obs> elements, found " + std::to_string(k));
    const size_t o_end = s.end_of_tag(o);
    const size_t close = text.find("</obs>", o_end);
    if (close == std::string::npos) s.fail(o, "<obs> is not closed");
    if (labels) {
      const std::string label = s.attribute(o, o_end, "label");
      if (label.empty()) s.fail(o, "an <obs> without its label");
      d.dates.push_back(label);
    }
    std::vector<double> row;
    const char* p = text.data() + o_end + 1;
    const char* end = text.data() + close;
    while (p < end) {
      while (p < end && std::isspace(static_cast<unsigned char>(*p))) ++p;
      if (p >= end) break;
      const char* q = p;
      while (q < end && !std::isspace(static_cast<unsigned char>(*q))) ++q;
      const std::string token(p, q);
      if (token == "NA" || token == "na" || token == "nan") {
        row.push_back(NAN);
      } else {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(token, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != token.size())
          s.fail(o, "observation " + std::to_string(k + 1) + ": '" + token + "' is not a number");
        row.push_back(v);
      }
      p = q;
    }
    if (static_cast<int64_t>(row.size()) != nvars)
      s.fail(o, "observation " + std::to_string(k + 1) + " has " + std::to_string(row.size()) + " values for " +
                    std::to_string(nvars) + " variables");
    d.rows.push_back(std::move(row));
    at = close;
  }
  if (!labels) {
    // Dates from startobs: consecutive days (frequency 7) or weekdays (5).
    int64_t day = 0;
    if ((frequency == "7" || frequency == "5") && parse_iso_date(startobs, &day)) {
      for (int64_t k = 0; k < nobs; ++k) {
        if (frequency == "5")
          while (weekday_of(day) >= 5) ++day;
        d.dates.push_back(civil_from_days(day));
        ++day;
      }
    } else {
      for (int64_t k = 0; k < nobs; ++k) d.dates.push_back(startobs + "+" + std::to_string(k));
    }
  }
  return d;
}

std::vector<double> gretl_column(const GretlData& data, const std::string& name, const std::string& origin) {
  for (size_t j = 0; j < data.variables.size(); ++j)
    if (data.variables[j] == name) {
      std::vector<double> out;
      for (const auto& row : data.rows) out.push_back(row[j]);
      return out;
    }
  std::string valid;
  for (const auto& v : data.variables) valid += (valid.empty() ? "" : ", ") + v;
  throw Error(origin + ": no variable '" + name + "'; the file has: " + valid);
}

}  // namespace loom::rl
