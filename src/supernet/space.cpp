#include "loom/supernet/space.h"

#include <algorithm>

#include "loom/core/error.h"

namespace loom {

const EnumNames<GeneKind>& gene_kind_names() {
  static const EnumNames<GeneKind> names = {
      {GeneKind::Depth, "depth"}, {GeneKind::Width, "width"}, {GeneKind::Kernel, "kernel"}};
  return names;
}

const std::set<GeneKind>& all_gene_kinds() {
  static const std::set<GeneKind> all = {GeneKind::Depth, GeneKind::Width, GeneKind::Kernel};
  return all;
}

std::set<GeneKind> parse_gene_kinds(const std::vector<std::string>& names, const std::string& origin) {
  std::set<GeneKind> out;
  for (const auto& name : names) {
    bool found = false;
    for (const auto& [kind, text] : gene_kind_names())
      if (text == name) {
        out.insert(kind);
        found = true;
      }
    if (!found) throw Error(origin + ": unknown elastic dimension kind '" + name + "'; valid: depth, width, kernel");
  }
  return out;
}

ElasticSpace::ElasticSpace(std::vector<Gene> genes) : genes_(std::move(genes)) {
  for (size_t i = 0; i < genes_.size(); ++i) {
    const Gene& g = genes_[i];
    if (g.choices.empty()) throw Error("elastic dimension '" + g.name + "' has no choices");
    for (size_t c = 1; c < g.choices.size(); ++c)
      if (g.choices[c] <= g.choices[c - 1])
        throw Error("elastic dimension '" + g.name + "': choices must be ascending and distinct");
    if (g.depth_gene >= 0) {
      if (static_cast<size_t>(g.depth_gene) >= genes_.size() || genes_[g.depth_gene].kind != GeneKind::Depth)
        throw Error("elastic dimension '" + g.name + "' depends on a gene that is not a depth gene");
    }
    for (size_t j = 0; j < i; ++j)
      if (genes_[j].name == g.name) throw Error("elastic dimension '" + g.name + "' is declared twice");
  }
}

int ElasticSpace::index_of(const std::string& name) const {
  for (size_t i = 0; i < genes_.size(); ++i)
    if (genes_[i].name == name) return static_cast<int>(i);
  return -1;
}

bool ElasticSpace::active(const Genome& genome, size_t gene) const {
  const Gene& g = genes_[gene];
  return g.depth_gene < 0 || genome[static_cast<size_t>(g.depth_gene)] > g.position;
}

Genome ElasticSpace::largest() const {
  Genome out;
  for (const auto& g : genes_) out.push_back(g.choices.back());
  return out;
}

Genome ElasticSpace::smallest(const std::set<GeneKind>& free) const {
  Genome out;
  for (const auto& g : genes_) out.push_back(free.count(g.kind) ? g.choices.front() : g.choices.back());
  return out;
}

Genome ElasticSpace::random(SubnetRng& rng, const std::set<GeneKind>& free) const {
  Genome out;
  for (const auto& g : genes_) {
    if (!free.count(g.kind)) {
      out.push_back(g.choices.back());
      continue;
    }
    std::uniform_int_distribution<size_t> pick(0, g.choices.size() - 1);
    out.push_back(g.choices[pick(rng)]);
  }
  return out;
}

Genome ElasticSpace::mutate(const Genome& genome, double probability, SubnetRng& rng,
                            const std::set<GeneKind>& free) const {
  Genome out = genome;
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  for (size_t i = 0; i < genes_.size(); ++i) {
    if (!free.count(genes_[i].kind) || coin(rng) >= probability) continue;
    std::uniform_int_distribution<size_t> pick(0, genes_[i].choices.size() - 1);
    out[i] = genes_[i].choices[pick(rng)];
  }
  return out;
}

Genome ElasticSpace::crossover(const Genome& a, const Genome& b, SubnetRng& rng) const {
  Genome out = a;
  std::bernoulli_distribution coin(0.5);
  for (size_t i = 0; i < genes_.size(); ++i)
    if (coin(rng)) out[i] = b[i];
  return out;
}

Genome ElasticSpace::canonical(const Genome& genome) const {
  Genome out = genome;
  for (size_t i = 0; i < genes_.size(); ++i)
    if (!active(genome, i)) out[i] = genes_[i].choices.back();
  return out;
}

void ElasticSpace::check(const Genome& genome, const std::string& origin) const {
  if (genome.size() != genes_.size())
    throw Error(origin + ": a subnet of this space has " + std::to_string(genes_.size()) + " values, got " +
                std::to_string(genome.size()));
  for (size_t i = 0; i < genes_.size(); ++i) {
    const auto& c = genes_[i].choices;
    if (std::find(c.begin(), c.end(), genome[i]) == c.end()) {
      std::string valid;
      for (int64_t v : c) valid += (valid.empty() ? "" : ", ") + std::to_string(v);
      throw Error(origin + ": " + genes_[i].name + " = " + std::to_string(genome[i]) +
                  " is not one of the elastic choices (" + valid + ")");
    }
  }
}

std::vector<double> ElasticSpace::features(const Genome& genome) const {
  std::vector<double> out;
  for (size_t i = 0; i < genes_.size(); ++i) {
    const bool on = active(genome, i);
    for (int64_t c : genes_[i].choices) out.push_back(on && genome[i] == c ? 1.0 : 0.0);
  }
  return out;
}

nlohmann::json ElasticSpace::to_json(const Genome& genome) const {
  nlohmann::json j = nlohmann::json::object();
  for (size_t i = 0; i < genes_.size(); ++i)
    if (active(genome, i)) j[genes_[i].name] = genome[i];
  return j;
}

Genome ElasticSpace::from_json(const nlohmann::json& json, const std::string& origin) const {
  if (!json.is_object()) throw Error(origin + ": a subnet is a JSON object of elastic dimensions");
  Genome out = largest();
  std::vector<bool> given(genes_.size(), false);
  for (const auto& [key, value] : json.items()) {
    const int i = index_of(key);
    if (i < 0) {
      std::string valid;
      for (const auto& g : genes_) valid += (valid.empty() ? "" : ", ") + g.name;
      throw Error(origin + ": unknown elastic dimension '" + key + "'; valid: " + valid);
    }
    if (!value.is_number_integer()) throw Error(origin + ": " + key + " must be an integer");
    out[static_cast<size_t>(i)] = value.get<int64_t>();
    given[static_cast<size_t>(i)] = true;
  }
  for (size_t i = 0; i < genes_.size(); ++i)
    if (!given[i] && active(out, i)) throw Error(origin + ": elastic dimension '" + genes_[i].name + "' is missing");
  check(out, origin);
  return out;
}

std::string ElasticSpace::describe(const Genome& genome) const { return to_json(genome).dump(); }

namespace {

void register_all_subnet_samplers(Registry<SubnetSampler>& r) {
  r.add("sandwich", {"the largest, the smallest and num_random random subnets (Once-for-All, BigNAS)",
                     [](const ElasticSpace& space, const SampleRequest& q, SubnetRng& rng) {
                       std::vector<Genome> out = {space.largest(), space.smallest(q.free_kinds)};
                       for (int64_t i = 0; i < q.num_random; ++i) out.push_back(space.random(rng, q.free_kinds));
                       return out;
                     }});
  r.add("random", {"the largest and num_random random subnets",
                   [](const ElasticSpace& space, const SampleRequest& q, SubnetRng& rng) {
                     std::vector<Genome> out = {space.largest()};
                     for (int64_t i = 0; i < q.num_random; ++i) out.push_back(space.random(rng, q.free_kinds));
                     return out;
                   }});
  r.add("largest", {"the largest subnet only: plain training of the maxnet",
                    [](const ElasticSpace& space, const SampleRequest&, SubnetRng&) {
                      return std::vector<Genome>{space.largest()};
                    }});
}

}  // namespace

Registry<SubnetSampler>& subnet_samplers() {
  static Registry<SubnetSampler> registry("subnet sampler", register_all_subnet_samplers);
  return registry;
}

SubnetRng step_rng(uint64_t seed, int64_t step, uint64_t stream) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(step),
                    static_cast<uint32_t>(static_cast<uint64_t>(step) >> 32), static_cast<uint32_t>(stream)};
  return SubnetRng(seq);
}

}  // namespace loom
