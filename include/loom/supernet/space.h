// Elastic search spaces, shared by every supernet family (transformers for
// MLFS, CNNs for TOFA): a subnet is a genome, one value per gene, and a gene
// is one elastic dimension (the hidden size, one layer's FFN width, one
// block's kernel size, a stage's depth) with its allowed values. Genes that
// sit beyond a depth gene's value are inactive (OFA's convention): they stay
// in the genome but do not change the subnet. The sampler registry picks the
// subnets of a training step (sandwich: largest, smallest, n random).
//
//   loom::ElasticSpace space({{"depth", loom::GeneKind::Depth, {2, 3, 4}},
//                             {"ffn.0", loom::GeneKind::Width, {64, 128}, /*depth_gene=*/0, /*position=*/0}});
//   std::mt19937_64 rng(0);
//   loom::Genome g = space.random(rng, {loom::GeneKind::Width});   // depth stays at its largest
//   auto subnets = loom::subnet_samplers().get("sandwich").sample(space, {2, {loom::GeneKind::Width}}, rng);
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/core/registry.h"

namespace loom {

// What a gene changes; training stages free some kinds and hold the others
// at their largest value (MLFS stage 1: width only; stage 2: width and depth).
enum class GeneKind { Depth, Width, Kernel };
const EnumNames<GeneKind>& gene_kind_names();
// "width,depth" -> {Width, Depth}; unknown names list the valid ones.
std::set<GeneKind> parse_gene_kinds(const std::vector<std::string>& names, const std::string& origin);

struct Gene {
  std::string name;
  GeneKind kind = GeneKind::Width;
  std::vector<int64_t> choices;  // ascending and distinct
  int depth_gene = -1;           // the depth gene this one depends on, -1 = always active
  int64_t position = 0;          // active iff genome[depth_gene] > position
};

using Genome = std::vector<int64_t>;
using SubnetRng = std::mt19937_64;

class ElasticSpace {
 public:
  ElasticSpace() = default;
  // Checks the genes: choices ascending and distinct, depth genes of kind Depth.
  explicit ElasticSpace(std::vector<Gene> genes);

  const std::vector<Gene>& genes() const { return genes_; }
  size_t size() const { return genes_.size(); }
  // Index of the gene called `name`, or -1.
  int index_of(const std::string& name) const;
  bool active(const Genome& genome, size_t gene) const;

  Genome largest() const;
  // Free genes at their smallest value, the others at their largest.
  Genome smallest(const std::set<GeneKind>& free) const;
  // Free genes uniformly from their choices, the others at their largest.
  Genome random(SubnetRng& rng, const std::set<GeneKind>& free) const;
  // Each free gene redrawn with probability `probability`.
  Genome mutate(const Genome& genome, double probability, SubnetRng& rng, const std::set<GeneKind>& free) const;
  // Each gene from one parent or the other, with equal probability.
  Genome crossover(const Genome& a, const Genome& b, SubnetRng& rng) const;
  // Inactive genes set to their largest value, so equal subnets compare equal.
  Genome canonical(const Genome& genome) const;
  // Throws loom::Error naming `origin` and the gene when a value is not one of its choices.
  void check(const Genome& genome, const std::string& origin) const;

  // One-hot per gene over its choices, zero for inactive genes: the input of
  // the accuracy predictor.
  std::vector<double> features(const Genome& genome) const;
  // {"gene": value} for the active genes.
  nlohmann::json to_json(const Genome& genome) const;
  // The genome of such an object; every gene must be given (inactive ones may be omitted).
  Genome from_json(const nlohmann::json& json, const std::string& origin) const;
  std::string describe(const Genome& genome) const;

 private:
  std::vector<Gene> genes_;
};

const std::set<GeneKind>& all_gene_kinds();

// How one training step chooses its subnets. The first is always the largest
// (the maxnet, which teaches the others in the same step).
struct SampleRequest {
  int64_t num_random = 2;
  std::set<GeneKind> free_kinds = all_gene_kinds();
};
struct SubnetSampler {
  std::string help;
  std::function<std::vector<Genome>(const ElasticSpace& space, const SampleRequest& request, SubnetRng& rng)> sample;
};
// sandwich (largest, smallest, n random), random (largest, n random), largest.
Registry<SubnetSampler>& subnet_samplers();

// A seeded generator for (seed, step, stream): steps draw the same subnets on
// resume without any generator state in checkpoints.
SubnetRng step_rng(uint64_t seed, int64_t step, uint64_t stream = 0);

}  // namespace loom
