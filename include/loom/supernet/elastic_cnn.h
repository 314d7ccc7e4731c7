// An elastic CNN for image classification (TOFA, Once-for-All): one set of
// super-weights that runs as any subnet of a MobileNetV2/V3-like network
// (docs/tofa.md). A stem conv (3×3, stride 2) feeds stages of inverted
// residual blocks (1×1 expand, depthwise k×k, 1×1 project, residual when the
// shape allows), then global average pooling and a linear head. Elastic
// dimensions, as genes of an ElasticSpace:
//   depth.S      blocks used in stage S (the first d; OFA keeps the first),
//   expand.S.B   block B's expand ratio (first-k channels of the 1×1 convs),
//   kernel.S.B   block B's depthwise kernel: 7, or the centre of the larger
//                kernel through a learned transform (OFA: 5×5 = T₅(centre of
//                the 7×7), 3×3 = T₃(centre of that 5×5)), identity at init.
// BatchNorm keeps one set of statistics; a chosen subnet's are recalibrated
// on a few batches before evaluation (recalibrate_bn), and evaluating another
// subnet than the calibrated one is an error. During training BN uses batch
// statistics only (the shared running statistics would mix subnets).
//
// extract_cnn turns a calibrated subnet into a StaticCnn: plain convolutions
// with the transformed kernels, sliced weights and the subnet's statistics,
// an image classifier of the model registry (model_type `loom_tofa_cnn`,
// register_elastic_cnn_family) saved and loaded as any model directory
// (models/image_classifier.h).
//
//   loom::ElasticCnn net(cfg);
//   auto g = net->space().largest();
//   auto logits = net->forward(images, g);           // training: batch statistics
//   net->recalibrate_bn(g, calibration_images, 128);
//   { loom::EvalModeScope e(*net); logits = net->forward(images, g); }
//   loom::StaticCnn dense = loom::extract_cnn(*net, g);
//   loom::save_image_classifier_dir("out/subnet", *dense);
//   loom::register_elastic_cnn_family();
//   loom::ImageClassifier back = loom::load_image_classifier_dir("out/subnet").model;
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/models/image_classifier.h"
#include "loom/supernet/search.h"
#include "loom/supernet/space.h"

namespace loom {

struct ElasticCnnConfig {
  int64_t in_channels = 1;
  int64_t image_size = 28;  // square inputs; costs and latency keys are computed for this size
  int64_t num_classes = 5;
  int64_t stem_channels = 16;
  std::vector<std::string> stage_channels = {"16", "24", "40"};
  std::vector<std::string> stage_strides = {"1", "2", "2"};
  std::vector<std::string> depths = {"1", "2", "3"};  // depth choices per stage; the largest = blocks per stage
  std::vector<std::string> expand_ratios = {"2", "3", "4"};
  std::vector<std::string> kernels = {"3", "5",
                                      "7"};  // odd, ascending; every smaller kernel comes from the next larger

  nlohmann::json to_json() const;
  static ElasticCnnConfig from_json(const nlohmann::json& json, const std::string& origin);
};
// Declares the fields above (prefix "" in `loom tofa` configs).
const ParamSchema<ElasticCnnConfig>& elastic_cnn_config_schema();

// One block of a concrete subnet.
struct CnnBlockShape {
  int64_t in_channels = 0, mid_channels = 0, out_channels = 0, kernel = 3, stride = 1, in_size = 0;
  bool residual() const { return stride == 1 && in_channels == out_channels; }
  int64_t out_size() const { return (in_size + stride - 1) / stride; }
  std::string latency_key() const;  // "block cin=16 cmid=48 cout=24 k=5 s=2 hw=14"
};
// A concrete subnet: what StaticCnn is built from.
struct CnnShape {
  int64_t in_channels = 1, image_size = 28, stem_channels = 16, num_classes = 5;
  std::vector<CnnBlockShape> blocks;
  int64_t last_channels() const { return blocks.empty() ? stem_channels : blocks.back().out_channels; }
  // Values a StaticCnn of this shape stores (parameters and BN buffers).
  int64_t stored_values() const;
  nlohmann::json to_json() const;
  static CnnShape from_json(const nlohmann::json& json, const std::string& origin);
};

class ElasticCnnImpl : public torch::nn::Module {
 public:
  explicit ElasticCnnImpl(const ElasticCnnConfig& cfg);

  const ElasticCnnConfig& config() const { return cfg_; }
  const ElasticSpace& space() const { return space_; }
  CnnShape shape_of(const Genome& genome) const;
  // (stage, block) of each block the subnet runs, in order (shape_of's blocks).
  std::vector<std::pair<int64_t, int64_t>> active_blocks(const Genome& genome) const;
  // Logits [N, classes] of subnet `genome` for images [N, C, H, W].
  torch::Tensor forward(const torch::Tensor& images, const Genome& genome);

  // The depthwise kernel block (stage, block) uses at `kernel` over its first
  // `channels` channels: [channels, 1, k, k].
  torch::Tensor effective_kernel(int64_t stage, int64_t block, int64_t kernel, int64_t channels);

  // Resets BN statistics to those of subnet `genome` on `images`, in batches
  // of `batch_size` (batch statistics normalise, their average is kept).
  void recalibrate_bn(const Genome& genome, const torch::Tensor& images, int64_t batch_size);
  // The canonical genome the statistics are for; empty = none yet.
  const Genome& calibrated_for() const { return calibrated_; }

  // Parameters of the subnet (its sliced weights, not the kernel transforms),
  // multiply-accumulates per image, and the latency-table keys of its parts.
  SubnetCost analytic_cost(const Genome& genome) const;
  int64_t trainable_count(const Genome& genome) const;
  // Replaces the head with a fresh one for `num_classes` (transfer to a new task).
  void reset_head(int64_t num_classes, uint64_t seed);

  struct Bn {
    torch::Tensor weight, bias, running_mean, running_var;
  };
  struct Block {
    torch::Tensor expand_w, dw_w, project_w;  // [mid_max, in, 1, 1], [mid_max, 1, k_max, k_max], [out, mid_max, 1, 1]
    std::vector<torch::Tensor> transforms;    // per smaller kernel, ascending: [k², k²]
    Bn expand_bn, dw_bn, project_bn;
    int64_t in_channels = 0, out_channels = 0, stride = 1;
  };
  const std::vector<std::vector<Block>>& stages() const { return stages_; }
  const torch::Tensor& stem_weight() const { return stem_w_; }
  const Bn& stem_bn() const { return stem_bn_; }
  const torch::Tensor& head_weight() const { return head_w_; }
  const torch::Tensor& head_bias() const { return head_b_; }

 private:
  Bn make_bn(const std::string& name, int64_t channels);
  torch::Tensor batch_norm(Bn& bn, const torch::Tensor& x);
  torch::Tensor run(const torch::Tensor& images, const Genome& genome);

  ElasticCnnConfig cfg_;
  std::vector<int64_t> channels_, strides_, depth_choices_, expand_choices_, kernel_choices_;
  ElasticSpace space_;
  std::vector<int> depth_gene_;                              // per stage
  std::vector<std::vector<int>> expand_gene_, kernel_gene_;  // per stage, block
  torch::Tensor stem_w_, head_w_, head_b_;
  Bn stem_bn_;
  std::vector<std::vector<Block>> stages_;
  Genome calibrated_;
  // Set while recalibrating: BN layers add their batch moments here.
  std::vector<std::pair<torch::Tensor, torch::Tensor>>* moments_ = nullptr;
  size_t moment_index_ = 0;
};
TORCH_MODULE(ElasticCnn);

// A fixed CNN: an extracted subnet, or a network trained on its own. Its
// config.json: {"model_type": "loom_tofa_cnn", "format_version": 1, "shape": ...}.
class StaticCnnImpl : public ImageClassifierImpl {
 public:
  explicit StaticCnnImpl(const CnnShape& shape);
  torch::Tensor forward(const torch::Tensor& images) override;
  std::string model_type() const override { return "loom_tofa_cnn"; }
  nlohmann::json config_json() const override;
  int64_t in_channels() const override { return shape_.in_channels; }
  int64_t image_size() const override { return shape_.image_size; }
  int64_t num_classes() const override { return shape_.num_classes; }
  const CnnShape& shape() const { return shape_; }
  // Runs only block `i` (latency measurement); -1 = the stem, size() = the head.
  torch::Tensor forward_part(int64_t part, const torch::Tensor& x);

  struct Block {
    torch::nn::Conv2d expand{nullptr}, depthwise{nullptr}, project{nullptr};
    torch::nn::BatchNorm2d expand_bn{nullptr}, dw_bn{nullptr}, project_bn{nullptr};
  };
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  std::vector<Block> blocks;
  torch::nn::Linear head{nullptr};

 private:
  CnnShape shape_;
};
TORCH_MODULE(StaticCnn);

// The calibrated subnet `genome` of `net` as a standalone model (eval-mode
// outputs equal the supernet's for that subnet). Throws when the BN
// statistics are for another subnet.
StaticCnn extract_cnn(ElasticCnnImpl& net, const Genome& genome);

// Adds `loom_tofa_cnn` (StaticCnn) to the model registry, once: call it
// before loading an exported subnet (`loom tofa` does). Its config checks
// format_version 1 and the block shapes; its size_of counts the stored values.
void register_elastic_cnn_family();

// Every parameter and buffer of a module by name, and the reverse: each one
// must be in the file with its shape (errors name the file and tensor).
std::vector<std::pair<std::string, torch::Tensor>> module_tensors(torch::nn::Module& module);
void load_module_tensors(torch::nn::Module& module, const std::string& path);
// Copies every parameter and buffer of `src` into `dst` (same structure).
void copy_module_tensors(torch::nn::Module& dst, torch::nn::Module& src);

// Subnet latency as a sum of table entries: the stem, each block, the head,
// each measured once at batch 1 on random weights of that shape.
SubnetCost table_cost(ElasticCnnImpl& net, const Genome& genome, class LatencyTable& table);
// Measures every part configuration of `net`'s space that the table lacks
// (the stem, the head, each block position × expand ratio × kernel), so that
// searches afterwards only look entries up: the table is measured once per
// machine and shared by every scenario. Returns the entries it measured.
int64_t measure_latency_table(ElasticCnnImpl& net, class LatencyTable& table);

}  // namespace loom
