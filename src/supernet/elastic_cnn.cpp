#include "loom/supernet/elastic_cnn.h"

#include <filesystem>
#include <functional>
#include <mutex>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/models/model_registry.h"
#include "loom/supernet/latency_table.h"
#include "loom/tensor/tensor_io.h"

namespace loom {

namespace {

constexpr double kBnEps = 1e-5;

std::vector<int64_t> parse_ints(const std::vector<std::string>& items, const std::string& key, int64_t min) {
  if (items.empty()) throw Error(key + ": empty list");
  std::vector<int64_t> out;
  for (const auto& item : items) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) throw Error(key + ": '" + item + "' is not an integer");
    if (v < min) throw Error(key + ": " + item + " is below " + std::to_string(min));
    out.push_back(v);
  }
  return out;
}

void check_ascending(const std::vector<int64_t>& v, const std::string& key) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] <= v[i - 1]) throw Error(key + ": values must be ascending and distinct");
}

std::string stage_block(int64_t s, int64_t b) { return std::to_string(s) + "." + std::to_string(b); }
std::string tensor_name(int64_t s, int64_t b, const std::string& what) {
  return "stage" + std::to_string(s) + "_block" + std::to_string(b) + "_" + what;
}

}  // namespace

const ParamSchema<ElasticCnnConfig>& elastic_cnn_config_schema() {
  using O = ElasticCnnConfig;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("stem_channels", &O::stem_channels, "channels of the 3x3 stride-2 stem", {1, 4096})
        .add("stage_channels", &O::stage_channels, "output channels of each stage")
        .add("stage_strides", &O::stage_strides, "stride of each stage's first block (1 or 2)")
        .add("depths", &O::depths, "depth choices of every stage; the largest is the blocks per stage")
        .add("expand_ratios", &O::expand_ratios, "expand-ratio choices of every block")
        .add("kernels", &O::kernels, "depthwise kernel choices (odd, ascending)");
    return s;
  }();
  return schema;
}

nlohmann::json ElasticCnnConfig::to_json() const {
  return {{"in_channels", in_channels},
          {"image_size", image_size},
          {"num_classes", num_classes},
          {"stem_channels", stem_channels},
          {"stage_channels", stage_channels},
          {"stage_strides", stage_strides},
          {"depths", depths},
          {"expand_ratios", expand_ratios},
          {"kernels", kernels}};
}

ElasticCnnConfig ElasticCnnConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": the CNN config must be an object");
  ElasticCnnConfig c;
  auto need = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) throw Error(origin + ": missing key '" + key + "'");
    return j.at(key);
  };
  auto int_of = [&](const char* key) {
    const auto& v = need(key);
    if (!v.is_number_integer()) throw Error(origin + ": '" + key + "' must be an integer");
    return v.get<int64_t>();
  };
  auto list_of = [&](const char* key) {
    const auto& v = need(key);
    std::vector<std::string> out;
    if (!v.is_array()) throw Error(origin + ": '" + key + "' must be a list");
    for (const auto& x : v) {
      if (!x.is_string()) throw Error(origin + ": '" + key + "' must hold strings");
      out.push_back(x.get<std::string>());
    }
    return out;
  };
  c.in_channels = int_of("in_channels");
  c.image_size = int_of("image_size");
  c.num_classes = int_of("num_classes");
  c.stem_channels = int_of("stem_channels");
  c.stage_channels = list_of("stage_channels");
  c.stage_strides = list_of("stage_strides");
  c.depths = list_of("depths");
  c.expand_ratios = list_of("expand_ratios");
  c.kernels = list_of("kernels");
  return c;
}

std::string CnnBlockShape::latency_key() const {
  return "block cin=" + std::to_string(in_channels) + " cmid=" + std::to_string(mid_channels) +
         " cout=" + std::to_string(out_channels) + " k=" + std::to_string(kernel) + " s=" + std::to_string(stride) +
         " hw=" + std::to_string(in_size);
}

nlohmann::json CnnShape::to_json() const {
  nlohmann::json b = nlohmann::json::array();
  for (const auto& x : blocks)
    b.push_back({{"in", x.in_channels},
                 {"mid", x.mid_channels},
                 {"out", x.out_channels},
                 {"kernel", x.kernel},
                 {"stride", x.stride},
                 {"in_size", x.in_size}});
  return {{"in_channels", in_channels},
          {"image_size", image_size},
          {"stem_channels", stem_channels},
          {"num_classes", num_classes},
          {"blocks", b}};
}

int64_t CnnShape::stored_values() const {
  // A BatchNorm2d stores weight, bias, running mean and variance per channel
  // and one step counter.
  auto bn = [](int64_t c) { return 4 * c + 1; };
  int64_t n = stem_channels * in_channels * 9 + bn(stem_channels);
  for (const auto& b : blocks)
    n += b.in_channels * b.mid_channels + bn(b.mid_channels) + b.mid_channels * b.kernel * b.kernel +
         bn(b.mid_channels) + b.mid_channels * b.out_channels + bn(b.out_channels);
  return n + last_channels() * num_classes + num_classes;
}

CnnShape CnnShape::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": 'shape' must be an object");
  // Bounded so that sizes computed from the shape (stored_values) cannot overflow.
  auto int_of = [&](const nlohmann::json& o, const char* key, const std::string& where, int64_t max = 1 << 20) {
    if (!o.contains(key) || !o.at(key).is_number_integer() || o.at(key).get<int64_t>() < 1 ||
        o.at(key).get<int64_t>() > max)
      throw Error(origin + ": " + where + "'" + key + "' must be an integer in 1.." + std::to_string(max));
    return o.at(key).get<int64_t>();
  };
  CnnShape s;
  s.in_channels = int_of(j, "in_channels", "");
  s.image_size = int_of(j, "image_size", "");
  s.stem_channels = int_of(j, "stem_channels", "");
  s.num_classes = int_of(j, "num_classes", "");
  if (!j.contains("blocks") || !j.at("blocks").is_array()) throw Error(origin + ": 'blocks' must be a list");
  int64_t channels = s.stem_channels, size = (s.image_size + 1) / 2;
  for (size_t i = 0; i < j.at("blocks").size(); ++i) {
    const auto& o = j.at("blocks")[i];
    const std::string where = "blocks[" + std::to_string(i) + "].";
    if (!o.is_object()) throw Error(origin + ": " + where + " must be an object");
    CnnBlockShape b{int_of(o, "in", where),         int_of(o, "mid", where),    int_of(o, "out", where),
                    int_of(o, "kernel", where, 63), int_of(o, "stride", where), int_of(o, "in_size", where)};
    if (b.in_channels != channels || b.in_size != size)
      throw Error(origin + ": " + where + " does not continue the previous block (expected in=" +
                  std::to_string(channels) + ", in_size=" + std::to_string(size) + ")");
    if (b.kernel % 2 == 0 || b.stride > 2)
      throw Error(origin + ": " + where + " needs an odd kernel and stride 1 or 2");
    channels = b.out_channels;
    size = b.out_size();
    s.blocks.push_back(b);
  }
  return s;
}

// ---- the elastic network

ElasticCnnImpl::Bn ElasticCnnImpl::make_bn(const std::string& name, int64_t channels) {
  Bn bn;
  bn.weight = register_parameter(name + "_bn_weight", torch::ones({channels}));
  bn.bias = register_parameter(name + "_bn_bias", torch::zeros({channels}));
  bn.running_mean = register_buffer(name + "_bn_mean", torch::zeros({channels}));
  bn.running_var = register_buffer(name + "_bn_var", torch::ones({channels}));
  return bn;
}

ElasticCnnImpl::ElasticCnnImpl(const ElasticCnnConfig& cfg) : cfg_(cfg) {
  channels_ = parse_ints(cfg.stage_channels, "stage_channels", 1);
  strides_ = parse_ints(cfg.stage_strides, "stage_strides", 1);
  depth_choices_ = parse_ints(cfg.depths, "depths", 1);
  expand_choices_ = parse_ints(cfg.expand_ratios, "expand_ratios", 1);
  kernel_choices_ = parse_ints(cfg.kernels, "kernels", 1);
  check_ascending(depth_choices_, "depths");
  check_ascending(expand_choices_, "expand_ratios");
  check_ascending(kernel_choices_, "kernels");
  if (strides_.size() != channels_.size())
    throw Error("stage_strides: " + std::to_string(strides_.size()) + " strides for " +
                std::to_string(channels_.size()) + " stages");
  for (int64_t s : strides_)
    if (s > 2) throw Error("stage_strides: " + std::to_string(s) + " is not 1 or 2");
  for (int64_t k : kernel_choices_)
    if (k % 2 == 0) throw Error("kernels: " + std::to_string(k) + " is not odd");
  if (cfg.in_channels < 1 || cfg.image_size < 1 || cfg.num_classes < 1 || cfg.stem_channels < 1)
    throw Error("elastic CNN: in_channels, image_size, num_classes and stem_channels must be positive");

  const int64_t blocks = depth_choices_.back(), k_max = kernel_choices_.back(), e_max = expand_choices_.back();
  std::vector<Gene> genes;
  for (size_t s = 0; s < channels_.size(); ++s) {
    depth_gene_.push_back(static_cast<int>(genes.size()));
    genes.push_back({"depth." + std::to_string(s), GeneKind::Depth, depth_choices_});
    expand_gene_.emplace_back();
    kernel_gene_.emplace_back();
    for (int64_t b = 0; b < blocks; ++b) {
      expand_gene_[s].push_back(static_cast<int>(genes.size()));
      genes.push_back({"expand." + stage_block(s, b), GeneKind::Width, expand_choices_, depth_gene_[s], b});
      kernel_gene_[s].push_back(static_cast<int>(genes.size()));
      genes.push_back({"kernel." + stage_block(s, b), GeneKind::Kernel, kernel_choices_, depth_gene_[s], b});
    }
  }
  space_ = ElasticSpace(std::move(genes));

  // Kaiming-style initialisation through torch's own layers.
  auto conv_init = [](int64_t out, int64_t in_per_group, int64_t k) {
    torch::Tensor w = torch::empty({out, in_per_group, k, k});
    torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanOut, torch::kReLU);
    return w;
  };
  stem_w_ = register_parameter("stem_weight", conv_init(cfg.stem_channels, cfg.in_channels, 3));
  stem_bn_ = make_bn("stem", cfg.stem_channels);
  int64_t in = cfg.stem_channels;
  for (size_t s = 0; s < channels_.size(); ++s) {
    stages_.emplace_back();
    for (int64_t b = 0; b < blocks; ++b) {
      Block blk;
      blk.in_channels = b == 0 ? in : channels_[s];
      blk.out_channels = channels_[s];
      blk.stride = b == 0 ? strides_[s] : 1;
      const int64_t mid = blk.in_channels * e_max;
      blk.expand_w = register_parameter(tensor_name(s, b, "expand_weight"), conv_init(mid, blk.in_channels, 1));
      blk.dw_w = register_parameter(tensor_name(s, b, "dw_weight"), conv_init(mid, 1, k_max));
      blk.project_w = register_parameter(tensor_name(s, b, "project_weight"), conv_init(blk.out_channels, mid, 1));
      for (size_t k = 0; k + 1 < kernel_choices_.size(); ++k) {
        const int64_t kk = kernel_choices_[k] * kernel_choices_[k];
        blk.transforms.push_back(
            register_parameter(tensor_name(s, b, "transform" + std::to_string(kernel_choices_[k])), torch::eye(kk)));
      }
      blk.expand_bn = make_bn(tensor_name(s, b, "expand"), mid);
      blk.dw_bn = make_bn(tensor_name(s, b, "dw"), mid);
      blk.project_bn = make_bn(tensor_name(s, b, "project"), blk.out_channels);
      stages_[s].push_back(std::move(blk));
    }
    in = channels_[s];
  }
  torch::nn::Linear head(in, cfg.num_classes);
  head_w_ = register_parameter("head_weight", head->weight.detach().clone());
  head_b_ = register_parameter("head_bias", head->bias.detach().clone());
}

void ElasticCnnImpl::reset_head(int64_t num_classes, uint64_t seed) {
  if (num_classes < 1) throw Error("reset_head: num_classes must be positive");
  torch::manual_seed(seed);
  torch::nn::Linear head(head_w_.size(1), num_classes);
  torch::NoGradGuard no_grad;
  head_w_.set_data(head->weight.detach().clone());
  head_b_.set_data(head->bias.detach().clone());
  cfg_.num_classes = num_classes;
}

std::vector<std::pair<int64_t, int64_t>> ElasticCnnImpl::active_blocks(const Genome& genome) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t s = 0; s < stages_.size(); ++s)
    for (int64_t b = 0; b < genome.at(static_cast<size_t>(depth_gene_[s])); ++b)
      out.emplace_back(static_cast<int64_t>(s), b);
  return out;
}

CnnShape ElasticCnnImpl::shape_of(const Genome& genome) const {
  space_.check(genome, "subnet");
  CnnShape shape{cfg_.in_channels, cfg_.image_size, cfg_.stem_channels, cfg_.num_classes, {}};
  int64_t size = (cfg_.image_size + 1) / 2;
  for (const auto& [s, b] : active_blocks(genome)) {
    const Block& blk = stages_[static_cast<size_t>(s)][static_cast<size_t>(b)];
    CnnBlockShape x;
    x.in_channels = blk.in_channels;
    x.mid_channels = blk.in_channels * genome[static_cast<size_t>(expand_gene_[s][static_cast<size_t>(b)])];
    x.out_channels = blk.out_channels;
    x.kernel = genome[static_cast<size_t>(kernel_gene_[s][static_cast<size_t>(b)])];
    x.stride = blk.stride;
    x.in_size = size;
    size = x.out_size();
    shape.blocks.push_back(x);
  }
  return shape;
}

torch::Tensor ElasticCnnImpl::effective_kernel(int64_t stage, int64_t block, int64_t kernel, int64_t channels) {
  Block& blk = stages_.at(static_cast<size_t>(stage)).at(static_cast<size_t>(block));
  const int64_t k_max = kernel_choices_.back();
  torch::Tensor w = blk.dw_w.narrow(0, 0, channels);
  // From the largest kernel down: each smaller one is the transformed centre
  // of the one above it (OFA's kernel transformation matrices).
  int64_t current = k_max;
  for (size_t k = kernel_choices_.size() - 1; k-- > 0 && current > kernel;) {
    const int64_t next = kernel_choices_[k], offset = (current - next) / 2;
    torch::Tensor centre = w.narrow(2, offset, next).narrow(3, offset, next).reshape({channels, next * next});
    w = torch::matmul(centre, blk.transforms[k].t()).reshape({channels, 1, next, next});
    current = next;
  }
  if (current != kernel) throw Error("kernel " + std::to_string(kernel) + " is not one of the kernel choices");
  return w;
}

torch::Tensor ElasticCnnImpl::batch_norm(Bn& bn, const torch::Tensor& x) {
  const int64_t c = x.size(1);
  auto w = bn.weight.narrow(0, 0, c), b = bn.bias.narrow(0, 0, c);
  if (moments_ != nullptr) {
    // Recalibration: normalise with the batch's moments, record them.
    auto mean = x.mean({0, 2, 3});
    auto var = x.var({0, 2, 3}, /*unbiased=*/false);
    if (moment_index_ >= moments_->size()) moments_->push_back({torch::zeros({c}), torch::zeros({c})});
    auto& [sum_mean, sum_sq] = (*moments_)[moment_index_++];
    sum_mean.add_(mean * x.size(0));
    sum_sq.add_((var + mean * mean) * x.size(0));
    return torch::batch_norm(x, w, b, {}, {}, /*training=*/true, 0.0, kBnEps, false);
  }
  if (is_training()) return torch::batch_norm(x, w, b, {}, {}, true, 0.0, kBnEps, false);
  return torch::batch_norm(x, w, b, bn.running_mean.narrow(0, 0, c), bn.running_var.narrow(0, 0, c), false, 0.0, kBnEps,
                           false);
}

torch::Tensor ElasticCnnImpl::run(const torch::Tensor& images, const Genome& genome) {
  if (images.dim() != 4 || images.size(1) != cfg_.in_channels)
    throw Error("elastic CNN: expected images [N, " + std::to_string(cfg_.in_channels) + ", H, W], got " +
                std::to_string(images.dim()) + " dimensions");
  torch::Tensor x = torch::conv2d(images, stem_w_, {}, 2, 1);
  x = torch::relu6(batch_norm(stem_bn_, x));
  for (const auto& [s, b] : active_blocks(genome)) {
    Block& blk = stages_[static_cast<size_t>(s)][static_cast<size_t>(b)];
    const int64_t mid = blk.in_channels * genome[static_cast<size_t>(expand_gene_[s][static_cast<size_t>(b)])];
    const int64_t k = genome[static_cast<size_t>(kernel_gene_[s][static_cast<size_t>(b)])];
    torch::Tensor h = torch::conv2d(x, blk.expand_w.narrow(0, 0, mid));
    h = torch::relu6(batch_norm(blk.expand_bn, h));
    h = torch::conv2d(h, effective_kernel(s, b, k, mid), {}, blk.stride, k / 2, 1, mid);
    h = torch::relu6(batch_norm(blk.dw_bn, h));
    h = torch::conv2d(h, blk.project_w.narrow(1, 0, mid));
    h = batch_norm(blk.project_bn, h);
    x = blk.stride == 1 && blk.in_channels == blk.out_channels ? x + h : h;
  }
  x = x.mean({2, 3});
  return torch::linear(x, head_w_, head_b_);
}

torch::Tensor ElasticCnnImpl::forward(const torch::Tensor& images, const Genome& genome) {
  space_.check(genome, "subnet");
  if (!is_training() && moments_ == nullptr && space_.canonical(genome) != calibrated_)
    throw Error("elastic CNN: the BN statistics are for another subnet (" +
                (calibrated_.empty() ? std::string("none") : space_.describe(calibrated_)) +
                "); call recalibrate_bn for " + space_.describe(genome) + " first");
  return run(images, genome);
}

void ElasticCnnImpl::recalibrate_bn(const Genome& genome, const torch::Tensor& images, int64_t batch_size) {
  space_.check(genome, "subnet");
  if (images.size(0) < 2) throw Error("recalibrate_bn: needs at least 2 images");
  if (batch_size < 2) throw Error("recalibrate_bn: batch_size must be at least 2");
  torch::NoGradGuard no_grad;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> moments;
  moments_ = &moments;
  try {
    for (int64_t i = 0; i < images.size(0); i += batch_size) {
      moment_index_ = 0;
      run(images.narrow(0, i, std::min(batch_size, images.size(0) - i)), genome);
    }
  } catch (...) {
    moments_ = nullptr;
    throw;
  }
  moments_ = nullptr;
  // The BN layers in the order run() visits them.
  std::vector<Bn*> order{&stem_bn_};
  for (const auto& [s, b] : active_blocks(genome)) {
    Block& blk = stages_[static_cast<size_t>(s)][static_cast<size_t>(b)];
    order.insert(order.end(), {&blk.expand_bn, &blk.dw_bn, &blk.project_bn});
  }
  const double n = static_cast<double>(images.size(0));
  for (size_t i = 0; i < order.size(); ++i) {
    auto mean = moments[i].first / n;
    auto var = moments[i].second / n - mean * mean;
    const int64_t c = mean.size(0);
    order[i]->running_mean.narrow(0, 0, c).copy_(mean);
    order[i]->running_var.narrow(0, 0, c).copy_(var.clamp_min(0));
  }
  calibrated_ = space_.canonical(genome);
}

SubnetCost ElasticCnnImpl::analytic_cost(const Genome& genome) const {
  const CnnShape shape = shape_of(genome);
  double params = 0, macs = 0;
  const double stem_hw = static_cast<double>((cfg_.image_size + 1) / 2);
  params += static_cast<double>(cfg_.stem_channels * cfg_.in_channels * 9 + 2 * cfg_.stem_channels);
  macs += stem_hw * stem_hw * static_cast<double>(cfg_.stem_channels * cfg_.in_channels * 9);
  for (const auto& b : shape.blocks) {
    const double out_hw = static_cast<double>(b.out_size() * b.out_size());
    const double in_hw = static_cast<double>(b.in_size * b.in_size);
    const double expand = static_cast<double>(b.mid_channels * b.in_channels);
    const double dw = static_cast<double>(b.mid_channels * b.kernel * b.kernel);
    const double project = static_cast<double>(b.out_channels * b.mid_channels);
    params += expand + dw + project + static_cast<double>(4 * b.mid_channels + 2 * b.out_channels);
    macs += in_hw * expand + out_hw * (dw + project);
  }
  params += static_cast<double>(shape.last_channels() * cfg_.num_classes + cfg_.num_classes);
  macs += static_cast<double>(shape.last_channels() * cfg_.num_classes);
  SubnetCost cost;
  cost.params = params;
  cost.flops = macs;
  return cost;
}

int64_t ElasticCnnImpl::trainable_count(const Genome& genome) const {
  return static_cast<int64_t>(analytic_cost(genome).params);
}

// ---- the static network

StaticCnnImpl::StaticCnnImpl(const CnnShape& shape) : shape_(shape) {
  using namespace torch::nn;
  stem = register_module(
      "stem", Conv2d(Conv2dOptions(shape.in_channels, shape.stem_channels, 3).stride(2).padding(1).bias(false)));
  stem_bn = register_module("stem_bn", BatchNorm2d(BatchNorm2dOptions(shape.stem_channels).eps(kBnEps)));
  for (size_t i = 0; i < shape.blocks.size(); ++i) {
    const auto& b = shape.blocks[i];
    const std::string p = "block" + std::to_string(i) + "_";
    Block blk;
    blk.expand = register_module(p + "expand", Conv2d(Conv2dOptions(b.in_channels, b.mid_channels, 1).bias(false)));
    blk.expand_bn = register_module(p + "expand_bn", BatchNorm2d(BatchNorm2dOptions(b.mid_channels).eps(kBnEps)));
    blk.depthwise = register_module(p + "depthwise", Conv2d(Conv2dOptions(b.mid_channels, b.mid_channels, b.kernel)
                                                                .stride(b.stride)
                                                                .padding(b.kernel / 2)
                                                                .groups(b.mid_channels)
                                                                .bias(false)));
    blk.dw_bn = register_module(p + "dw_bn", BatchNorm2d(BatchNorm2dOptions(b.mid_channels).eps(kBnEps)));
    blk.project = register_module(p + "project", Conv2d(Conv2dOptions(b.mid_channels, b.out_channels, 1).bias(false)));
    blk.project_bn = register_module(p + "project_bn", BatchNorm2d(BatchNorm2dOptions(b.out_channels).eps(kBnEps)));
    blocks.push_back(blk);
  }
  head = register_module("head", torch::nn::Linear(shape.last_channels(), shape.num_classes));
}

torch::Tensor StaticCnnImpl::forward_part(int64_t part, const torch::Tensor& x) {
  if (part < 0) return torch::relu6(stem_bn(stem(x)));
  if (part >= static_cast<int64_t>(blocks.size())) return head(x.mean({2, 3}));
  Block& b = blocks[static_cast<size_t>(part)];
  torch::Tensor h = torch::relu6(b.expand_bn(b.expand(x)));
  h = torch::relu6(b.dw_bn(b.depthwise(h)));
  h = b.project_bn(b.project(h));
  return shape_.blocks[static_cast<size_t>(part)].residual() ? x + h : h;
}

torch::Tensor StaticCnnImpl::forward(const torch::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != shape_.in_channels)
    throw Error("CNN: expected images [N, " + std::to_string(shape_.in_channels) + ", H, W]");
  torch::Tensor x = forward_part(-1, images);
  for (int64_t i = 0; i < static_cast<int64_t>(blocks.size()); ++i) x = forward_part(i, x);
  return forward_part(static_cast<int64_t>(blocks.size()), x);
}

// ---- extraction and model directories

namespace {

void copy_bn(torch::nn::BatchNorm2d& dst, const ElasticCnnImpl::Bn& src, int64_t c) {
  dst->weight.copy_(src.weight.narrow(0, 0, c));
  dst->bias.copy_(src.bias.narrow(0, 0, c));
  dst->running_mean.copy_(src.running_mean.narrow(0, 0, c));
  dst->running_var.copy_(src.running_var.narrow(0, 0, c));
}

}  // namespace

StaticCnn extract_cnn(ElasticCnnImpl& net, const Genome& genome) {
  if (net.space().canonical(genome) != net.calibrated_for())
    throw Error("extract_cnn: the BN statistics are for another subnet; call recalibrate_bn first");
  const CnnShape shape = net.shape_of(genome);
  StaticCnn out(shape);
  torch::NoGradGuard no_grad;
  out->stem->weight.copy_(net.stem_weight());
  copy_bn(out->stem_bn, net.stem_bn(), shape.stem_channels);
  const auto active = net.active_blocks(genome);
  for (size_t i = 0; i < active.size(); ++i) {
    const auto [s, b] = active[i];
    const auto& blk = net.stages()[static_cast<size_t>(s)][static_cast<size_t>(b)];
    const auto& bs = shape.blocks[i];
    auto& dst = out->blocks[i];
    dst.expand->weight.copy_(blk.expand_w.narrow(0, 0, bs.mid_channels));
    dst.depthwise->weight.copy_(net.effective_kernel(s, b, bs.kernel, bs.mid_channels));
    dst.project->weight.copy_(blk.project_w.narrow(1, 0, bs.mid_channels));
    copy_bn(dst.expand_bn, blk.expand_bn, bs.mid_channels);
    copy_bn(dst.dw_bn, blk.dw_bn, bs.mid_channels);
    copy_bn(dst.project_bn, blk.project_bn, bs.out_channels);
  }
  out->head->weight.copy_(net.head_weight());
  out->head->bias.copy_(net.head_bias());
  out->eval();
  return out;
}

NamedTensors module_tensors(torch::nn::Module& module) {
  NamedTensors tensors;
  for (const auto& p : module.named_parameters()) tensors.emplace_back(p.key(), p.value().detach().contiguous());
  for (const auto& b : module.named_buffers()) tensors.emplace_back(b.key(), b.value().detach().contiguous());
  return tensors;
}

void load_module_tensors(torch::nn::Module& module, const std::string& path) {
  auto tensors = load_tensors(path);
  torch::NoGradGuard no_grad;
  auto fill = [&](const std::string& name, torch::Tensor& dst) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw Error(path + ": missing tensor '" + name + "'");
    if (it->second.sizes() != dst.sizes())
      throw Error(path + ": tensor '" + name + "' has shape " + std::to_string(it->second.dim()) + "-d " +
                  std::to_string(it->second.numel()) + " elements, the model expects " + std::to_string(dst.numel()));
    dst.copy_(it->second.to(dst.dtype()));
  };
  for (auto& p : module.named_parameters()) fill(p.key(), p.value());
  for (auto& b : module.named_buffers()) fill(b.key(), b.value());
}

void copy_module_tensors(torch::nn::Module& dst, torch::nn::Module& src) {
  torch::NoGradGuard no_grad;
  auto from = module_tensors(src);
  std::map<std::string, torch::Tensor> by_name(from.begin(), from.end());
  for (auto& p : dst.named_parameters()) p.value().copy_(by_name.at(p.key()));
  for (auto& b : dst.named_buffers()) b.value().copy_(by_name.at(b.key()));
}

nlohmann::json StaticCnnImpl::config_json() const {
  return {{"model_type", model_type()}, {"format_version", 1}, {"shape", shape_.to_json()}};
}

namespace {

CnnShape cnn_shape_of_config(const nlohmann::json& config, const std::string& origin) {
  if (!config.contains("format_version") || config.at("format_version") != 1)
    throw Error(origin + ": format_version must be 1");
  if (!config.contains("shape")) throw Error(origin + ": missing key 'shape'");
  return CnnShape::from_json(config.at("shape"), origin);
}

}  // namespace

void register_elastic_cnn_family() {
  static std::once_flag once;
  std::call_once(once, [] {
    model_families().add(
        "loom_tofa_cnn",
        {"MobileNetV2-style CNN image classifier: a subnet extracted from TOFA's elastic CNN (supernet module)",
         {},
         /*from_config=*/nullptr,
         [](const nlohmann::json& config, const std::string& origin) {
           return ModelSize{cnn_shape_of_config(config, origin).stored_values(), 0};
         },
         [](const nlohmann::json& config, const std::string& origin) -> ImageClassifier {
           return StaticCnn(cnn_shape_of_config(config, origin)).ptr();
         }});
  });
}

namespace {

// The table keys of a subnet's parts besides its blocks (CnnBlockShape::latency_key).
std::string stem_latency_key(const CnnShape& shape) {
  return "stem cin=" + std::to_string(shape.in_channels) + " c=" + std::to_string(shape.stem_channels) +
         " hw=" + std::to_string(shape.image_size);
}
int64_t last_size(const CnnShape& shape) {
  return shape.blocks.empty() ? (shape.image_size + 1) / 2 : shape.blocks.back().out_size();
}
std::string head_latency_key(const CnnShape& shape) {
  return "head c=" + std::to_string(shape.last_channels()) + " hw=" + std::to_string(last_size(shape)) +
         " classes=" + std::to_string(shape.num_classes);
}

// A part's table entry, measured on a miss: once, in the exported model's
// own code path, at batch 1 on random weights (latency does not depend on
// their values). `part` is -1 for the stem, a block index, or the head.
double part_latency_ms(LatencyTable& table, const std::string& key, const CnnShape& part_shape, int64_t part,
                       const std::vector<int64_t>& input_size) {
  if (auto hit = table.find(key)) return *hit;
  torch::NoGradGuard no_grad;
  StaticCnn model(part_shape);
  model->eval();
  const torch::Tensor input = torch::randn(input_size);
  return table.get(key, [&] { model->forward_part(part, input); });
}

double stem_ms(const CnnShape& shape, LatencyTable& table) {
  const CnnShape stem{shape.in_channels, shape.image_size, shape.stem_channels, shape.num_classes, {}};
  return part_latency_ms(table, stem_latency_key(shape), stem, -1,
                         {1, shape.in_channels, shape.image_size, shape.image_size});
}
double block_ms(const CnnShape& shape, const CnnBlockShape& b, LatencyTable& table) {
  const CnnShape one{shape.in_channels, shape.image_size, shape.stem_channels, shape.num_classes, {b}};
  return part_latency_ms(table, b.latency_key(), one, 0, {1, b.in_channels, b.in_size, b.in_size});
}
double head_ms(const CnnShape& shape, LatencyTable& table) {
  const int64_t hw = last_size(shape);
  CnnShape last{shape.in_channels, shape.image_size, shape.stem_channels, shape.num_classes, {}};
  if (!shape.blocks.empty()) last.blocks.push_back(shape.blocks.back());  // the head's input channels
  return part_latency_ms(table, head_latency_key(shape), last, static_cast<int64_t>(last.blocks.size()),
                         {1, shape.last_channels(), hw, hw});
}

// A whole model costs more than the sum of its parts timed alone (the calls
// between them); measure_latency_table stores the excess per part.
constexpr const char* kOverheadKey = "overhead per part";

double sum_of_parts_ms(const CnnShape& shape, LatencyTable& table) {
  double ms = stem_ms(shape, table);
  for (const auto& b : shape.blocks) ms += block_ms(shape, b, table);
  return ms + head_ms(shape, table);
}

}  // namespace

SubnetCost table_cost(ElasticCnnImpl& net, const Genome& genome, LatencyTable& table) {
  SubnetCost cost = net.analytic_cost(genome);
  const CnnShape shape = net.shape_of(genome);
  const double parts = static_cast<double>(shape.blocks.size() + 2);
  cost.latency_ms = sum_of_parts_ms(shape, table) + parts * table.find(kOverheadKey).value_or(0.0);
  return cost;
}

int64_t measure_latency_table(ElasticCnnImpl& net, LatencyTable& table) {
  const int64_t before = table.measured();
  // Every block's input size, channels and stride are fixed by its position
  // (only a stage's first block strides, and shallower subnets drop a stage's
  // last blocks), so the part configurations are: the stem, the head, and per
  // block position every (expand, kernel) pair.
  const CnnShape largest = net.shape_of(net.space().largest());
  stem_ms(largest, table);
  head_ms(largest, table);
  const auto expands = parse_ints(net.config().expand_ratios, "expand_ratios", 1);
  const auto kernels = parse_ints(net.config().kernels, "kernels", 1);
  for (CnnBlockShape b : largest.blocks)
    for (int64_t e : expands)
      for (int64_t k : kernels) {
        b.mid_channels = b.in_channels * e;
        b.kernel = k;
        block_ms(largest, b, table);
      }
  if (!table.find(kOverheadKey)) {
    // The per-part excess of whole models (the smallest and the largest
    // subnet, random weights) over their parts' sum, so that table latency
    // predicts what `loom tofa eval` measures (our correction; docs/tofa.md).
    double excess = 0;
    for (const Genome& g : {net.space().smallest(all_gene_kinds()), net.space().largest()}) {
      const CnnShape shape = net.shape_of(g);
      torch::NoGradGuard no_grad;
      StaticCnn model(shape);
      model->eval();
      const torch::Tensor x = torch::randn({1, shape.in_channels, shape.image_size, shape.image_size});
      const double whole = measure_latency_ms([&] { model->forward(x); });
      excess += std::max(0.0, whole - sum_of_parts_ms(shape, table)) / static_cast<double>(shape.blocks.size() + 2);
    }
    table.set(kOverheadKey, excess / 2);
  }
  return table.measured() - before;
}

}  // namespace loom
