// What a bad party does, behind one interface: data poisoning changes the
// labels it trains on, model poisoning replaces the update it sends. Each
// corruption is a file under src/fl/corruptions/, in a registry
// (corruptions()), and declares its own parameters (corruption_scale, ...).
//
//   none            every party is honest
//   label_flip      trains on labels y -> 9 - y
//   random_labels   trains on uniformly random labels
//   gaussian        sends N(0, (scale · ‖u‖/√d)²) noise instead of its update
//   sign_flip       sends -scale · u
//   scaled          sends scale · u
//   free_rider      sends a zero update but claims its sample count
//   colluding       all bad parties send the same vector: -scale x their mean update
//
//   auto c = loom::fl::make_corruption("sign_flip");
//   torch::Tensor sent = c->update(honest_update, {}, generator);
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loom/core/params.h"
#include "loom/core/registry.h"

namespace loom::fl {

class Corruption {
 public:
  virtual ~Corruption() = default;
  // False for `none`: no party is bad.
  virtual bool makes_parties_bad() const { return true; }
  // Data poisoning: the labels (int64, 0..9) a bad party trains on.
  virtual at::Tensor labels(const at::Tensor& honest, at::Generator& /*generator*/) const { return honest; }
  // Model poisoning: what a bad party sends instead of its honest update.
  // `bad_mean` is the bad parties' mean honest update, undefined where a
  // party acts alone (over the network).
  virtual at::Tensor update(const at::Tensor& honest, const at::Tensor& /*bad_mean*/,
                            at::Generator& /*generator*/) const {
    return honest;
  }
};

struct CorruptionEntry {
  std::string help;
  std::vector<ParamSpec> params;  // the corruption's own configuration keys
  std::function<std::unique_ptr<Corruption>(const Params& params)> make;
};
Registry<CorruptionEntry>& corruptions();
// Every registered corruption's parameters, each name once.
std::vector<ParamSpec> corruption_param_specs();

// Unknown names are an error naming `origin` and listing the valid ones.
std::unique_ptr<Corruption> make_corruption(const std::string& name, const Params& params,
                                            const std::string& origin = "");
std::unique_ptr<Corruption> make_corruption(const std::string& name);  // parameters at their defaults

}  // namespace loom::fl
