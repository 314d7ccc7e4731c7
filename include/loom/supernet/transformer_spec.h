// Subnets of an elastic transformer, written as small JSON/YAML specs, and
// the search space they are drawn from (HAT / DynaBERT conventions, with
// MatFormer's Mix'n'Match of widths per layer):
//
//   {"hidden_size": 96, "num_layers": 3, "heads": 2, "ffn": 128}
//   {"hidden_size": 96, "layers": [0, 2, 3], "heads": [4, 2, 2], "ffn": [256, 128, 64]}
//
// Every dimension keeps the first k of the maxnet's (weights W[:out_k, :in_k]):
// hidden channels, query heads (whole key/value groups: with grouped-query
// attention a subnet has heads/group key/value heads), FFN channels, and the
// layers listed (or the first num_layers). Scalars apply to every kept layer.
// Errors name the field: a spec larger than the maxnet, heads that do not
// fill whole kv groups, an unknown dimension.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/supernet/space.h"

namespace loom {

// A transformer's shape: the maxnet's, or a dense (extracted) model's per-layer sizes.
struct TransformerShape {
  int64_t hidden_size = 0;
  int64_t head_dim = 0;
  int64_t kv_group = 1;             // query heads per key/value head
  std::vector<int64_t> heads, ffn;  // per layer
  int64_t num_layers() const { return static_cast<int64_t>(heads.size()); }
};

struct TransformerSpec {
  int64_t hidden_size = 0;
  std::vector<int64_t> layers;  // maxnet layers kept, ascending
  std::vector<int64_t> heads;   // per kept layer: query heads
  std::vector<int64_t> ffn;     // per kept layer: FFN channels

  static TransformerSpec full(const TransformerShape& shape);
  // Same heads and same FFN width in every kept layer.
  bool uniform() const;
  nlohmann::json to_json() const;
  bool operator==(const TransformerSpec& o) const {
    return hidden_size == o.hidden_size && layers == o.layers && heads == o.heads && ffn == o.ffn;
  }
};

// Reads a spec; errors name `origin` and the field.
TransformerSpec parse_transformer_spec(const nlohmann::json& json, const TransformerShape& max,
                                       const std::string& origin);
// Checks a spec against the maxnet; errors name `origin` and the field.
void check_transformer_spec(const TransformerSpec& spec, const TransformerShape& max, const std::string& origin);

// Which maxnet layers a depth of k keeps: the first k (HAT), or k spread
// evenly from the first to the last (DynaBERT-like).
enum class DepthRule { First, Spread };
const EnumNames<DepthRule>& depth_rule_names();
std::vector<int64_t> layers_for_depth(int64_t depth, int64_t max_layers, DepthRule rule);

// The elastic choices of a transformer supernet. Empty lists mean
// {1/2, 3/4, 1} of the maxnet's size (rounded to whole kv groups for heads;
// depth {max/2 .. max}).
struct TransformerSpaceOptions {
  std::vector<std::string> hidden_choices, head_choices, ffn_choices, depth_choices;
  bool per_layer = true;  // Mix'n'Match: heads and FFN width chosen per layer
  DepthRule depth_rule = DepthRule::First;
};
const ParamSchema<TransformerSpaceOptions>& transformer_space_schema();

// Genes: hidden_size (width), depth (depth), heads.i / ffn.i per subnet
// layer (width; or one heads / ffn gene when not per_layer).
ElasticSpace transformer_space(const TransformerShape& max, const TransformerSpaceOptions& options,
                               const std::string& origin);
TransformerSpec transformer_spec_of(const ElasticSpace& space, const Genome& genome, const TransformerShape& max,
                                    DepthRule rule);

// How subnet layers are matched to maxnet layers for hidden-state
// distillation: each subnet layer to the maxnet layer it was taken from
// (same), or to the maxnet layer at the same relative depth (proportional).
enum class LayerMapping { Same, Proportional };
const EnumNames<LayerMapping>& layer_mapping_names();
std::vector<int64_t> map_layers(const TransformerSpec& spec, int64_t max_layers, LayerMapping mapping);

}  // namespace loom
