#include "loom/supernet/transformer_spec.h"

#include <algorithm>
#include <cmath>

#include "loom/core/error.h"

namespace loom {

TransformerSpec TransformerSpec::full(const TransformerShape& shape) {
  TransformerSpec s;
  s.hidden_size = shape.hidden_size;
  for (int64_t l = 0; l < shape.num_layers(); ++l) s.layers.push_back(l);
  s.heads = shape.heads;
  s.ffn = shape.ffn;
  return s;
}

bool TransformerSpec::uniform() const {
  for (size_t i = 1; i < layers.size(); ++i)
    if (heads[i] != heads[0] || ffn[i] != ffn[0]) return false;
  return true;
}

nlohmann::json TransformerSpec::to_json() const {
  return {{"hidden_size", hidden_size}, {"layers", layers}, {"heads", heads}, {"ffn", ffn}};
}

namespace {

const char* kSpecKeys = "hidden_size, num_layers, layers, heads, ffn";

int64_t json_int(const nlohmann::json& v, const std::string& where) {
  if (!v.is_number_integer()) throw Error(where + " must be an integer");
  return v.get<int64_t>();
}

// A scalar broadcast to every kept layer, or one value per kept layer.
std::vector<int64_t> per_layer(const nlohmann::json& v, size_t layers, const std::string& where) {
  if (v.is_array()) {
    if (v.size() != layers)
      throw Error(where + " lists " + std::to_string(v.size()) + " values for " + std::to_string(layers) +
                  " kept layers");
    std::vector<int64_t> out;
    for (size_t i = 0; i < v.size(); ++i) out.push_back(json_int(v[i], where + "[" + std::to_string(i) + "]"));
    return out;
  }
  return std::vector<int64_t>(layers, json_int(v, where));
}

std::vector<int64_t> parse_ints(const std::vector<std::string>& items, const std::string& origin) {
  std::vector<int64_t> out;
  for (const auto& item : items) {
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw Error(origin + ": '" + item + "' is not an integer");
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<int64_t> default_fractions(int64_t max, int64_t multiple) {
  std::vector<int64_t> out;
  for (double f : {0.5, 0.75, 1.0}) {
    int64_t v =
        static_cast<int64_t>(std::floor(f * static_cast<double>(max) / static_cast<double>(multiple))) * multiple;
    out.push_back(std::max(multiple, v));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

void check_transformer_spec(const TransformerSpec& s, const TransformerShape& max, const std::string& origin) {
  if (s.hidden_size < 1 || s.hidden_size > max.hidden_size)
    throw Error(origin + ": hidden_size " + std::to_string(s.hidden_size) + " is outside 1.." +
                std::to_string(max.hidden_size) + " (the maxnet's hidden size)");
  if (s.layers.empty()) throw Error(origin + ": layers: a subnet keeps at least one layer");
  if (s.heads.size() != s.layers.size() || s.ffn.size() != s.layers.size())
    throw Error(origin + ": heads and ffn need one value per kept layer");
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    const int64_t l = s.layers[i];
    if (l < 0 || l >= max.num_layers())
      throw Error(origin + ": layers" + at + ": " + std::to_string(l) + " is not a maxnet layer (0.." +
                  std::to_string(max.num_layers() - 1) + ")");
    if (i > 0 && l <= s.layers[i - 1]) throw Error(origin + ": layers must be strictly ascending");
    const int64_t max_heads = max.heads[static_cast<size_t>(l)], max_ffn = max.ffn[static_cast<size_t>(l)];
    if (s.heads[i] < 1 || s.heads[i] > max_heads)
      throw Error(origin + ": heads" + at + ": " + std::to_string(s.heads[i]) + " is outside 1.." +
                  std::to_string(max_heads) + " (maxnet layer " + std::to_string(l) + ")");
    if (s.heads[i] % max.kv_group != 0)
      throw Error(origin + ": heads" + at + ": " + std::to_string(s.heads[i]) +
                  " query heads do not divide into key/value groups of " + std::to_string(max.kv_group) +
                  " (num_attention_heads / num_key_value_heads)");
    if (s.ffn[i] < 1 || s.ffn[i] > max_ffn)
      throw Error(origin + ": ffn" + at + ": " + std::to_string(s.ffn[i]) + " is outside 1.." +
                  std::to_string(max_ffn) + " (maxnet layer " + std::to_string(l) + " intermediate size)");
  }
}

TransformerSpec parse_transformer_spec(const nlohmann::json& j, const TransformerShape& max,
                                       const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": a subnet spec is an object with keys " + std::string(kSpecKeys));
  for (const auto& [key, value] : j.items())
    if (key != "hidden_size" && key != "num_layers" && key != "layers" && key != "heads" && key != "ffn")
      throw Error(origin + ": unknown dimension '" + key + "'; valid: " + kSpecKeys);
  TransformerSpec s;
  s.hidden_size = j.contains("hidden_size") ? json_int(j["hidden_size"], origin + ": hidden_size") : max.hidden_size;
  if (j.contains("layers") && j.contains("num_layers")) throw Error(origin + ": give layers or num_layers, not both");
  if (j.contains("layers")) {
    if (!j["layers"].is_array()) throw Error(origin + ": layers must be a list of maxnet layer indices");
    for (size_t i = 0; i < j["layers"].size(); ++i)
      s.layers.push_back(json_int(j["layers"][i], origin + ": layers[" + std::to_string(i) + "]"));
  } else {
    const int64_t k = j.contains("num_layers") ? json_int(j["num_layers"], origin + ": num_layers") : max.num_layers();
    if (k < 1 || k > max.num_layers())
      throw Error(origin + ": num_layers " + std::to_string(k) + " is outside 1.." + std::to_string(max.num_layers()));
    for (int64_t l = 0; l < k; ++l) s.layers.push_back(l);
  }
  for (size_t i = 0; i < s.layers.size(); ++i)
    if (s.layers[i] < 0 || s.layers[i] >= max.num_layers())
      throw Error(origin + ": layers[" + std::to_string(i) + "]: " + std::to_string(s.layers[i]) +
                  " is not a maxnet layer (0.." + std::to_string(max.num_layers() - 1) + ")");
  for (int64_t l : s.layers) {
    s.heads.push_back(max.heads[static_cast<size_t>(l)]);
    s.ffn.push_back(max.ffn[static_cast<size_t>(l)]);
  }
  if (j.contains("heads")) s.heads = per_layer(j["heads"], s.layers.size(), origin + ": heads");
  if (j.contains("ffn")) s.ffn = per_layer(j["ffn"], s.layers.size(), origin + ": ffn");
  check_transformer_spec(s, max, origin);
  return s;
}

const EnumNames<DepthRule>& depth_rule_names() {
  static const EnumNames<DepthRule> names = {{DepthRule::First, "first"}, {DepthRule::Spread, "spread"}};
  return names;
}

std::vector<int64_t> layers_for_depth(int64_t depth, int64_t max_layers, DepthRule rule) {
  std::vector<int64_t> out;
  if (rule == DepthRule::First || depth >= max_layers) {
    for (int64_t l = 0; l < std::min(depth, max_layers); ++l) out.push_back(l);
    return out;
  }
  if (depth == 1) return {max_layers - 1};
  for (int64_t i = 0; i < depth; ++i)
    out.push_back(static_cast<int64_t>(
        std::lround(static_cast<double>(i) * static_cast<double>(max_layers - 1) / static_cast<double>(depth - 1))));
  return out;
}

const ParamSchema<TransformerSpaceOptions>& transformer_space_schema() {
  using O = TransformerSpaceOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("hidden_choices", &O::hidden_choices, "elastic hidden sizes; empty = 1/2, 3/4 and all of the maxnet's")
        .add("head_choices", &O::head_choices, "elastic query-head counts (whole kv groups); empty = 1/2, 3/4, all")
        .add("ffn_choices", &O::ffn_choices, "elastic FFN widths; empty = 1/2, 3/4, all")
        .add("depth_choices", &O::depth_choices, "elastic layer counts; empty = half the layers up to all")
        .add("per_layer", &O::per_layer, "choose heads and FFN width per layer (MatFormer's Mix'n'Match)")
        .add_enum("depth_rule", &O::depth_rule, depth_rule_names(),
                  "which layers a depth keeps: the first k, or k spread from first to last");
    return s;
  }();
  return schema;
}

ElasticSpace transformer_space(const TransformerShape& max, const TransformerSpaceOptions& o,
                               const std::string& origin) {
  for (size_t l = 1; l < max.heads.size(); ++l)
    if (max.heads[l] != max.heads[0] || max.ffn[l] != max.ffn[0])
      throw Error(origin + ": an elastic search space needs a maxnet with the same shape in every layer");
  const int64_t L = max.num_layers();
  auto choices = [&](const std::vector<std::string>& given, int64_t top, int64_t multiple, const char* key) {
    std::vector<int64_t> c =
        given.empty() ? default_fractions(top, multiple) : parse_ints(given, origin + ": " + std::string(key));
    for (int64_t v : c) {
      if (v < 1 || v > top)
        throw Error(origin + ": " + key + ": " + std::to_string(v) + " is outside 1.." + std::to_string(top) +
                    " (the maxnet's size)");
      if (v % multiple != 0)
        throw Error(origin + ": " + key + ": " + std::to_string(v) +
                    " query heads do not divide into key/value groups of " + std::to_string(multiple));
    }
    return c;
  };
  std::vector<int64_t> depth;
  if (o.depth_choices.empty())
    for (int64_t k = (L + 1) / 2; k <= L; ++k) depth.push_back(k);
  else
    depth = choices(o.depth_choices, L, 1, "depth_choices");
  const auto hidden = choices(o.hidden_choices, max.hidden_size, 1, "hidden_choices");
  const auto heads = choices(o.head_choices, max.heads[0], max.kv_group, "head_choices");
  const auto ffn = choices(o.ffn_choices, max.ffn[0], 1, "ffn_choices");
  std::vector<Gene> genes = {{"hidden_size", GeneKind::Width, hidden}, {"depth", GeneKind::Depth, depth}};
  if (o.per_layer) {
    for (int64_t i = 0; i < L; ++i) genes.push_back({"heads." + std::to_string(i), GeneKind::Width, heads, 1, i});
    for (int64_t i = 0; i < L; ++i) genes.push_back({"ffn." + std::to_string(i), GeneKind::Width, ffn, 1, i});
  } else {
    genes.push_back({"heads", GeneKind::Width, heads});
    genes.push_back({"ffn", GeneKind::Width, ffn});
  }
  return ElasticSpace(std::move(genes));
}

TransformerSpec transformer_spec_of(const ElasticSpace& space, const Genome& g, const TransformerShape& max,
                                    DepthRule rule) {
  space.check(g, "subnet");
  TransformerSpec s;
  s.hidden_size = g[static_cast<size_t>(space.index_of("hidden_size"))];
  s.layers = layers_for_depth(g[static_cast<size_t>(space.index_of("depth"))], max.num_layers(), rule);
  const int shared_heads = space.index_of("heads"), shared_ffn = space.index_of("ffn");
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const int h = shared_heads >= 0 ? shared_heads : space.index_of("heads." + std::to_string(i));
    const int f = shared_ffn >= 0 ? shared_ffn : space.index_of("ffn." + std::to_string(i));
    s.heads.push_back(g[static_cast<size_t>(h)]);
    s.ffn.push_back(g[static_cast<size_t>(f)]);
  }
  check_transformer_spec(s, max, "subnet " + space.describe(g));
  return s;
}

const EnumNames<LayerMapping>& layer_mapping_names() {
  static const EnumNames<LayerMapping> names = {{LayerMapping::Same, "same"},
                                                {LayerMapping::Proportional, "proportional"}};
  return names;
}

std::vector<int64_t> map_layers(const TransformerSpec& spec, int64_t max_layers, LayerMapping mapping) {
  if (mapping == LayerMapping::Same) return spec.layers;
  std::vector<int64_t> out;
  const int64_t k = static_cast<int64_t>(spec.layers.size());
  for (int64_t i = 0; i < k; ++i) out.push_back((i + 1) * max_layers / k - 1);
  return out;
}

}  // namespace loom
