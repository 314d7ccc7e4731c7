// Transformer subnet specs: parsing, the bad-field errors, the elastic
// space of a transformer and its genome decoding.
#include <gtest/gtest.h>

#include "error_message.h"
#include "loom/supernet/transformer_spec.h"

using namespace loom;
using loom::testing::error_of;

TEST(SupernetSpec, TransformerSpecsParseAndNameTheBadField) {
  TransformerShape max{64, 16, 2, {4, 4, 4}, {128, 128, 128}};
  auto s =
      parse_transformer_spec({{"hidden_size", 32}, {"layers", {0, 2}}, {"heads", {4, 2}}, {"ffn", 64}}, max, "s.json");
  EXPECT_EQ(s.layers, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(s.ffn, (std::vector<int64_t>{64, 64}));
  EXPECT_FALSE(s.uniform());
  auto first = parse_transformer_spec({{"num_layers", 2}}, max, "s.json");
  EXPECT_EQ(first.layers, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(first.heads, (std::vector<int64_t>{4, 4}));
  for (auto [json, message] : std::vector<std::pair<nlohmann::json, const char*>>{
           {{{"hidden_size", 65}}, "hidden_size 65 is outside 1..64"},
           {{{"ffn", 256}}, "ffn[0]: 256 is outside 1..128"},
           {{{"heads", 3}}, "heads[0]: 3 query heads do not divide into key/value groups of 2"},
           {{{"heads", 6}}, "heads[0]: 6 is outside 1..4"},
           {{{"layers", {0, 5}}}, "layers[1]: 5 is not a maxnet layer (0..2)"},
           {{{"layers", {2, 1}}}, "strictly ascending"},
           {{{"num_layers", 4}}, "num_layers 4 is outside 1..3"},
           {{{"width", 4}}, "unknown dimension 'width'; valid: hidden_size, num_layers, layers, heads, ffn"},
           {{{"heads", {4}}}, "heads lists 1 values for 3 kept layers"}})
    EXPECT_NE(error_of([&] { parse_transformer_spec(json, max, "s.json"); }).find(message), std::string::npos)
        << json.dump() << " -> " << error_of([&] { parse_transformer_spec(json, max, "s.json"); });
}

TEST(SupernetSpec, TransformerSpaceDecodesGenomesAndChecksChoices) {
  TransformerShape max{64, 16, 2, {4, 4, 4, 4}, {128, 128, 128, 128}};
  TransformerSpaceOptions o;
  auto space = transformer_space(max, o, "cfg");
  EXPECT_EQ(space.genes()[0].choices, (std::vector<int64_t>{32, 48, 64}));
  EXPECT_EQ(space.genes()[1].choices, (std::vector<int64_t>{2, 3, 4}));
  auto spec = transformer_spec_of(space, space.smallest(all_gene_kinds()), max, DepthRule::First);
  EXPECT_EQ(spec.layers, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(spec.heads, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(layers_for_depth(3, 4, DepthRule::Spread), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(map_layers(spec, 4, LayerMapping::Proportional), (std::vector<int64_t>{1, 3}));
  o.head_choices = {"1", "4"};
  EXPECT_NE(error_of([&] {
              transformer_space(max, o, "cfg.yaml");
            }).find("cfg.yaml: head_choices: 1 query heads do not divide into key/value groups of 2"),
            std::string::npos);
  o.head_choices = {};
  o.ffn_choices = {"64", "x"};
  EXPECT_NE(error_of([&] { transformer_space(max, o, "cfg.yaml"); }).find("'x' is not an integer"), std::string::npos);
}
