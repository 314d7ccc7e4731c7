#include "loom/supernet/tofa.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>

#include "loom/core/atomic_file.h"
#include "loom/core/dictd.h"
#include "loom/core/error.h"
#include "loom/core/idx.h"
#include "loom/core/json.h"
#include "loom/core/params.h"
#include "loom/supernet/distill.h"
#include "loom/supernet/latency_table.h"
#include "loom/tensor/eval_mode.h"
#include "loom/tensor/tensor_io.h"

namespace loom {

// ---- data

ImageSet ImageSet::rows(const torch::Tensor& index) const {
  return {images.index_select(0, index), labels.index_select(0, index)};
}

ImageSet load_fashion_mnist_classes(const std::string& dir, bool train, const std::vector<int64_t>& classes) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz", labels_path = prefix + "-labels-idx1-ubyte.gz";
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.shape.size() != 3 || images.shape[1] != 28 || images.shape[2] != 28)
    throw Error(images_path + ": expected [N, 28, 28] images");
  if (labels.shape.size() != 1 || labels.count() != images.count())
    throw Error(labels_path + ": expected one label per image (" + std::to_string(images.count()) + ")");
  std::vector<int64_t> relabel(256, -1);
  for (size_t k = 0; k < classes.size(); ++k) {
    if (classes[k] < 0 || classes[k] > 9) throw Error("class " + std::to_string(classes[k]) + " is outside 0..9");
    relabel[static_cast<size_t>(classes[k])] = static_cast<int64_t>(k);
  }
  std::vector<int64_t> keep, y;
  for (size_t i = 0; i < labels.count(); ++i) {
    if (labels.data[i] > 9)
      throw Error(labels_path + ": label " + std::to_string(labels.data[i]) + " at item " + std::to_string(i) +
                  " is outside 0..9");
    if (relabel[labels.data[i]] >= 0) {
      keep.push_back(static_cast<int64_t>(i));
      y.push_back(relabel[labels.data[i]]);
    }
  }
  const auto n = static_cast<int64_t>(images.count());
  auto all = torch::from_blob(images.data.data(), {n, 1, 28, 28}, torch::kUInt8);
  auto index = torch::tensor(keep, torch::kLong);
  return {all.index_select(0, index).to(torch::kFloat) / 255.0, torch::tensor(y, torch::kLong)};
}

ImageSet load_digits_csv(const std::string& path) {
  std::istringstream in(read_gzip_file(path));
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    std::vector<double> values;
    std::stringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) {
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(cell, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != cell.size())
        throw Error(path + ":" + std::to_string(line_no) + ": '" + cell + "' is not a number");
      values.push_back(v);
    }
    if (values.size() != 65)
      throw Error(path + ":" + std::to_string(line_no) + ": expected 64 pixels and a label, got " +
                  std::to_string(values.size()) + " values");
    for (size_t i = 0; i < 64; ++i) {
      if (values[i] < 0 || values[i] > 16)
        throw Error(path + ":" + std::to_string(line_no) + ": pixel " + std::to_string(values[i]) + " outside 0..16");
      pixels.push_back(static_cast<float>(values[i] / 16.0));
    }
    if (values[64] < 0 || values[64] > 9 || values[64] != static_cast<int64_t>(values[64]))
      throw Error(path + ":" + std::to_string(line_no) + ": label outside 0..9");
    labels.push_back(static_cast<int64_t>(values[64]));
  }
  if (labels.empty()) throw Error(path + ": no rows");
  auto images = torch::tensor(pixels).reshape({static_cast<int64_t>(labels.size()), 1, 8, 8});
  // Upsampled to Fashion-MNIST's 28×28, so a Fashion-MNIST source supernet
  // and its latency table apply unchanged (our choice, docs/tofa.md).
  images = torch::nn::functional::interpolate(images, torch::nn::functional::InterpolateFuncOptions()
                                                          .size(std::vector<int64_t>{28, 28})
                                                          .mode(torch::kBilinear)
                                                          .align_corners(false));
  return {images.clamp(0, 1), torch::tensor(labels, torch::kLong)};
}

namespace {

// Per class, the indices of `labels`, shuffled with `seed`.
std::vector<std::vector<int64_t>> shuffled_by_class(const torch::Tensor& labels, int64_t num_classes, uint64_t seed) {
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(num_classes));
  auto y = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < labels.size(0); ++i) out.at(static_cast<size_t>(y[i])).push_back(i);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 0x70FA);
  for (auto& members : out) std::shuffle(members.begin(), members.end(), rng);
  return out;
}

torch::Tensor index_tensor(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); }

}  // namespace

SemiSupervisedSplit split_semi_supervised(const ImageSet& train, int64_t num_classes, int64_t labels_per_class,
                                          int64_t valid_per_class, int64_t max_unlabelled, uint64_t seed,
                                          const std::string& origin) {
  if (labels_per_class < 1) throw Error(origin + ": labels_per_class must be at least 1");
  const auto by_class = shuffled_by_class(train.labels, num_classes, seed);
  std::vector<int64_t> labelled, validation, unlabelled;
  for (size_t c = 0; c < by_class.size(); ++c) {
    const auto& m = by_class[c];
    const auto need = static_cast<size_t>(labels_per_class + valid_per_class);
    if (m.size() < need)
      throw Error(origin + ": class " + std::to_string(c) + " has " + std::to_string(m.size()) +
                  " training images, fewer than labels_per_class + valid_per_class = " + std::to_string(need));
    labelled.insert(labelled.end(), m.begin(), m.begin() + labels_per_class);
    validation.insert(validation.end(), m.begin() + labels_per_class, m.begin() + static_cast<int64_t>(need));
    unlabelled.insert(unlabelled.end(), m.begin() + static_cast<int64_t>(need), m.end());
  }
  std::mt19937_64 rng(seed + 0x5EED);
  std::shuffle(unlabelled.begin(), unlabelled.end(), rng);
  if (max_unlabelled > 0 && static_cast<int64_t>(unlabelled.size()) > max_unlabelled)
    unlabelled.resize(static_cast<size_t>(max_unlabelled));
  SemiSupervisedSplit s;
  s.labelled = train.rows(index_tensor(labelled));
  s.validation = valid_per_class > 0 ? train.rows(index_tensor(validation)) : ImageSet{};
  if (!unlabelled.empty()) s.unlabelled = train.images.index_select(0, index_tensor(unlabelled));
  return s;
}

// ---- augmentation

torch::Tensor augment_weak(const torch::Tensor& images, const AugmentOptions& o, torch::Generator& gen) {
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3), s = o.max_shift;
  torch::Tensor x = images;
  if (o.flip) {
    auto flip = torch::rand({n}, gen) < 0.5;
    x = torch::where(flip.view({n, 1, 1, 1}), x.flip({3}), x);
  }
  if (s > 0) {
    // A random crop of the zero-padded image = a translation by up to s pixels.
    auto padded = torch::constant_pad_nd(x, {s, s, s, s}, 0.0);
    auto shifts = torch::randint(0, 2 * s + 1, {n, 2}, gen);
    auto acc = shifts.accessor<int64_t, 2>();
    std::vector<torch::Tensor> rows;
    rows.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows.push_back(padded[i].narrow(1, acc[i][0], h).narrow(2, acc[i][1], w));
    x = torch::stack(rows);
  }
  return x;
}

torch::Tensor augment_strong(const torch::Tensor& images, const AugmentOptions& o, torch::Generator& gen) {
  torch::Tensor x = augment_weak(images, o, gen);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  if (o.contrast > 0) {
    auto factor = 1 - o.contrast + 2 * o.contrast * torch::rand({n, 1, 1, 1}, gen);
    auto mean = x.mean({1, 2, 3}, true);
    x = (x - mean) * factor + mean;
  }
  if (o.cutout > 0) {
    const int64_t side = std::max<int64_t>(1, static_cast<int64_t>(o.cutout * static_cast<double>(std::min(h, w))));
    auto ys = torch::randint(0, h, {n, 1}, gen), xs = torch::randint(0, w, {n, 1}, gen);
    auto row = torch::arange(h).view({1, h}), col = torch::arange(w).view({1, w});
    auto in_rows = ((row - ys).abs() * 2 < side).view({n, 1, h, 1});
    auto in_cols = ((col - xs).abs() * 2 < side).view({n, 1, 1, w});
    x = x.masked_fill(in_rows & in_cols, 0.0);
  }
  if (o.noise > 0) x = x + o.noise * torch::randn(x.sizes(), gen);
  return x.clamp(0, 1);
}

// ---- options

const ParamSchema<TofaOptions>& tofa_options_schema() {
  using O = TofaOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    auto source_loop = loop_options_schema("pretrain_"), target_loop = loop_options_schema("");
    s.add("data_dir", &O::data_dir, "directory of Fashion-MNIST's IDX files")
        .add_choice("target", &O::target, {"fashion", "digits"},
                    "target task: Fashion-MNIST's target_classes, or scikit-learn's 8x8 digits")
        .add("digits_csv", &O::digits_csv, "scikit-learn's digits.csv.gz (target = digits)")
        .add("source_classes", &O::source_classes, "Fashion-MNIST classes of the source task (all labels)")
        .add("target_classes", &O::target_classes, "Fashion-MNIST classes of the target task (target = fashion)")
        .add("source_per_class", &O::source_per_class, "source images per class; 0 = all", {0, 1e9})
        .add("labels_per_class", &O::labels_per_class, "labelled target images per class", {1, 1e9})
        .add("valid_per_class", &O::valid_per_class, "labelled validation images per class (predictor, search)",
             {1, 1e9})
        .add("max_unlabelled", &O::max_unlabelled, "unlabelled target images; 0 = every remaining one", {0, 1e9})
        .add("test_per_class", &O::test_per_class,
             "held-out test images per class; 0 = the whole t10k split (digits: 50)", {0, 1e9})
        .include<ElasticCnnConfig>(elastic_cnn_config_schema(), [](O& o) -> ElasticCnnConfig& { return o.cnn; })
        .include<LoopOptions>(source_loop, [](O& o) -> LoopOptions& { return o.pretrain; })
        .include<LoopOptions>(target_loop, [](O& o) -> LoopOptions& { return o.adapt; })
        .include<DistillOptions>(distill_options_schema(), [](O& o) -> DistillOptions& { return o.distill; },
                                 {"alpha", "temperature", "gamma"})
        .add("sampler", &O::sampler, "subnet sampler of each step (see subnet_samplers)")
        .add("num_random", &O::num_random, "random subnets per step besides the largest (and smallest)", {0, 64})
        .add("unlabelled_weight", &O::unlabelled_weight, "weight of the FixMatch consistency term; 0 = supervised only",
             {0, 100})
        .add("threshold", &O::threshold, "confidence a pseudo-label needs", {0, 1})
        .add_choice("teacher", &O::teacher, {"maxnet", "ema"},
                    "pseudo-label teacher: this step's maxnet, or the maxnet of an EMA copy of the weights")
        .add("ema_decay", &O::ema_decay, "teacher = ema: decay of the weights' moving average per step", {0, 0.999999})
        .add("unlabelled_ratio", &O::unlabelled_ratio, "unlabelled images per labelled image in a batch", {1, 64})
        .add_nested<int64_t>("max_shift", [](O& o) -> int64_t& { return o.augment.max_shift; },
                             "weak augmentation: translation in pixels", {0, 64})
        .add_nested<bool>(
            "flip", [](O& o) -> bool& { return o.augment.flip; }, "weak augmentation: random horizontal flips")
        .add_nested<double>("cutout", [](O& o) -> double& { return o.augment.cutout; },
                            "strong augmentation: cutout side / image side", {0, 1})
        .add_nested<double>("noise", [](O& o) -> double& { return o.augment.noise; },
                            "strong augmentation: Gaussian noise std", {0, 10})
        .add_nested<double>("contrast", [](O& o) -> double& { return o.augment.contrast; },
                            "strong augmentation: contrast jitter", {0, 1})
        .add("calibration_images", &O::calibration_images, "images for BN recalibration of a subnet", {2, 1e7})
        .add("calibration_batch", &O::calibration_batch, "batch size of BN recalibration", {2, 1e7})
        .add("predictor_samples", &O::predictor_samples, "subnets scored on validation to fit the predictor", {2, 1e6})
        .add("predictor_ridge", &O::predictor_ridge, "ridge of the accuracy predictor", {1e-9, 1e9})
        .include<SearchOptions>(search_options_schema(), [](O& o) -> SearchOptions& { return o.search; })
        .add("threads", &O::threads, "compute threads (0 = all)", {0, 1024})
        .add("seed", &O::seed, "seed of the split, initialisation, batches, subnets and augmentation");
    return s;
  }();
  return schema;
}

namespace {

std::vector<int64_t> parse_classes(const std::vector<std::string>& items, const std::string& key) {
  const auto out = parse_int_list(items, key, 0, 9, "a class in 0..9");
  for (size_t k = 0; k < out.size(); ++k)
    if (std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out[k]) !=
        out.begin() + static_cast<std::ptrdiff_t>(k))
      throw Error(key + ": class " + items[k] + " is listed twice");
  if (out.size() < 2) throw Error(key + ": needs at least two classes");
  return out;
}

}  // namespace

std::vector<int64_t> parse_int_list(const std::vector<std::string>& items, const std::string& key, int64_t lo,
                                    int64_t hi, const std::string& what) {
  std::vector<int64_t> out;
  for (const auto& item : items) {
    size_t used = 0;
    int64_t v = lo - 1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < lo || v > hi) throw Error(key + ": '" + item + "' is not " + what);
    out.push_back(v);
  }
  return out;
}

void check_tofa_options(const TofaOptions& o) {
  const auto source = parse_classes(o.source_classes, "source_classes");
  if (o.target == "fashion") {
    const auto target = parse_classes(o.target_classes, "target_classes");
    for (int64_t c : target)
      if (std::find(source.begin(), source.end(), c) != source.end())
        throw Error("target_classes: class " + std::to_string(c) + " is also a source class");
  } else if (o.target != "digits") {
    throw Error("target: '" + o.target + "' is not fashion or digits");
  }
  subnet_samplers().get(o.sampler, "sampler");  // an unknown name lists the valid ones
  ElasticCnnImpl check(o.cnn);                  // the CNN config's own checks
}

TofaData load_tofa_data(const TofaOptions& o) {
  check_tofa_options(o);
  TofaData d;
  const auto source_classes = parse_classes(o.source_classes, "source_classes");
  d.source_classes = static_cast<int64_t>(source_classes.size());
  d.source = load_fashion_mnist_classes(o.data_dir, true, source_classes);
  if (o.source_per_class > 0) {
    std::vector<int64_t> keep;
    for (const auto& m : shuffled_by_class(d.source.labels, d.source_classes, o.seed + 1))
      keep.insert(keep.end(), m.begin(), m.begin() + std::min<int64_t>(o.source_per_class, m.size()));
    d.source = d.source.rows(index_tensor(keep));
  }
  ImageSet train;
  if (o.target == "fashion") {
    const auto target_classes = parse_classes(o.target_classes, "target_classes");
    d.num_classes = static_cast<int64_t>(target_classes.size());
    train = load_fashion_mnist_classes(o.data_dir, true, target_classes);
    d.test = load_fashion_mnist_classes(o.data_dir, false, target_classes);
    if (o.test_per_class > 0) {
      std::vector<int64_t> keep;
      for (const auto& m : shuffled_by_class(d.test.labels, d.num_classes, o.seed + 2))
        keep.insert(keep.end(), m.begin(), m.begin() + std::min<int64_t>(o.test_per_class, m.size()));
      d.test = d.test.rows(index_tensor(keep));
    }
  } else {
    // The digits have no test split: test_per_class images per class are
    // held out first (seeded), never trained on.
    ImageSet all = load_digits_csv(o.digits_csv);
    d.num_classes = 10;
    const int64_t held = o.test_per_class > 0 ? o.test_per_class : 50;
    std::vector<int64_t> test, rest;
    for (const auto& m : shuffled_by_class(all.labels, 10, o.seed + 2)) {
      if (static_cast<int64_t>(m.size()) <= held)
        throw Error(o.digits_csv + ": a class has only " + std::to_string(m.size()) + " images for test_per_class " +
                    std::to_string(held));
      test.insert(test.end(), m.begin(), m.begin() + held);
      rest.insert(rest.end(), m.begin() + held, m.end());
    }
    d.test = all.rows(index_tensor(test));
    train = all.rows(index_tensor(rest));
  }
  d.split = split_semi_supervised(train, d.num_classes, o.labels_per_class, o.valid_per_class, o.max_unlabelled, o.seed,
                                  "labels_per_class");
  return d;
}

ElasticCnn make_tofa_supernet(const TofaOptions& o, int64_t num_classes, int64_t in_channels, int64_t image_size) {
  ElasticCnnConfig cfg = o.cnn;
  cfg.num_classes = num_classes;
  cfg.in_channels = in_channels;
  cfg.image_size = image_size;
  torch::manual_seed(o.seed);
  return ElasticCnn(cfg);
}

// ---- training

LoopResult train_supernet(ElasticCnnImpl& net, const ImageSet& labelled, const torch::Tensor& unlabelled,
                          const TofaOptions& o, const LoopOptions& loop, const std::string& out_dir) {
  const bool semi = unlabelled.defined() && unlabelled.size(0) > 0 && o.unlabelled_weight > 0;
  const StepBatches labelled_batches(static_cast<size_t>(labelled.size()), loop.batch_size, loop.seed);
  const int64_t unlabelled_batch = loop.batch_size * o.unlabelled_ratio;
  std::unique_ptr<StepBatches> unlabelled_batches;
  if (semi)
    unlabelled_batches =
        std::make_unique<StepBatches>(static_cast<size_t>(unlabelled.size(0)), unlabelled_batch, loop.seed + 1);
  const SubnetSampler& sampler = subnet_samplers().get(o.sampler);
  const SampleRequest request{o.num_random, all_gene_kinds()};
  DistillOptions distill = o.distill;
  distill.beta = 0;  // CNN subnets distil logits only (no hidden-state mapping)
  net.train();

  // The EMA teacher: a copy of the supernet whose weights follow an
  // exponential moving average; it is trained by nobody (no gradients) and
  // lives beside the supernet in one module, so checkpoints hold both.
  const bool ema = semi && o.teacher == "ema";
  ElasticCnn ema_net{nullptr};
  auto holder = std::make_shared<torch::nn::Module>();
  if (ema) {
    ema_net = ElasticCnn(net.config());
    copy_module_tensors(*ema_net, net);
    for (auto& p : ema_net->parameters()) p.set_requires_grad(false);
    ema_net->train();  // batch statistics, as the supernet's own forward passes
    holder->register_module("net", std::dynamic_pointer_cast<ElasticCnnImpl>(net.shared_from_this()));
    holder->register_module("ema", ema_net.ptr());
  }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> ema_pairs;  // (teacher, student)
  if (ema) {
    auto student = net.named_parameters();
    for (auto& p : ema_net->named_parameters()) ema_pairs.emplace_back(p.value(), student[p.key()]);
  }

  auto step_fn = [&](int64_t step) -> nlohmann::json {
    torch::Generator gen = at::detail::createCPUGenerator(o.seed * 1000003ULL + static_cast<uint64_t>(step) + 7);
    const auto rows = labelled_batches.batch(step);
    auto index = torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kLong);
    torch::Tensor x = augment_weak(labelled.images.index_select(0, index), o.augment, gen);
    torch::Tensor y = labelled.labels.index_select(0, index);
    const int64_t n_labelled = x.size(0);
    PseudoLabels targets;
    if (semi) {
      const auto urows = unlabelled_batches->batch(step);
      auto uindex = torch::tensor(std::vector<int64_t>(urows.begin(), urows.end()), torch::kLong);
      torch::Tensor u = unlabelled.index_select(0, uindex);
      torch::Tensor weak = augment_weak(u, o.augment, gen), strong = augment_strong(u, o.augment, gen);
      {
        // Pseudo-labels from the maxnet on the weak view: this step's, or the
        // EMA copy's after folding in the weights of the last optimizer step
        // (the paper names both; `teacher`, docs/tofa.md).
        torch::NoGradGuard no_grad;
        if (ema) {
          for (auto& [teacher, student] : ema_pairs) teacher.mul_(o.ema_decay).add_(student, 1 - o.ema_decay);
          targets = pseudo_labels(ema_net->forward(weak, net.space().largest()), o.threshold);
        } else {
          targets = pseudo_labels(net.forward(weak, net.space().largest()), o.threshold);
        }
      }
      x = torch::cat({x, strong});
    }
    SubnetRng rng = step_rng(o.seed, step);
    const std::vector<Genome> subnets = sampler.sample(net.space(), request, rng);
    auto forward = [&](const Genome& g, const PassRequest&) {
      SubnetPass p;
      torch::Tensor logits = net.forward(x, g);
      p.task_loss = torch::nn::functional::cross_entropy(logits.narrow(0, 0, n_labelled), y);
      p.logits = logits;  // KD on labelled and strongly augmented unlabelled rows
      if (semi)
        p.extra_loss =
            o.unlabelled_weight * consistency_loss(logits.narrow(0, n_labelled, logits.size(0) - n_labelled), targets);
      return p;
    };
    StepReport report =
        supernet_step(subnets, forward, distill, [&](const Genome& g) { return net.trainable_count(g); });
    nlohmann::json j = {{"loss", report.total}, {"maxnet_task", report.subnets.front().task}};
    if (semi) j["pseudo_kept"] = targets.kept_fraction();
    return j;
  };
  if (ema) return run_training_loop(loop, *holder, out_dir, /*resume=*/!out_dir.empty(), step_fn);
  return run_training_loop(loop, net, out_dir, /*resume=*/!out_dir.empty(), step_fn);
}

LoopResult train_static(StaticCnnImpl& net, const ImageSet& labelled, const TofaOptions& o, const LoopOptions& loop) {
  const StepBatches batches(static_cast<size_t>(labelled.size()), loop.batch_size, loop.seed);
  net.train();
  auto step_fn = [&](int64_t step) -> nlohmann::json {
    torch::Generator gen = at::detail::createCPUGenerator(o.seed * 1000003ULL + static_cast<uint64_t>(step) + 7);
    const auto rows = batches.batch(step);
    auto index = torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kLong);
    auto loss = torch::nn::functional::cross_entropy(
        net.forward(augment_weak(labelled.images.index_select(0, index), o.augment, gen)),
        labelled.labels.index_select(0, index));
    loss.backward();
    return {{"loss", loss.item<double>()}};
  };
  LoopResult r = run_training_loop(loop, net, "", false, step_fn);
  net.eval();
  return r;
}

// ---- evaluation, predictor, selection

double accuracy(const std::function<torch::Tensor(const torch::Tensor&)>& logits_of, const ImageSet& data) {
  if (data.size() == 0) throw Error("accuracy: empty evaluation set");
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t i = 0; i < data.size(); i += 512) {
    const int64_t n = std::min<int64_t>(512, data.size() - i);
    auto pred = logits_of(data.images.narrow(0, i, n)).argmax(1);
    correct += pred.eq(data.labels.narrow(0, i, n)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(data.size());
}

torch::Tensor calibration_images(const torch::Tensor& images, const TofaOptions& o) {
  // A seeded random subset: the labelled set is ordered by class, so its
  // first rows would calibrate every BN on one or two classes only.
  const int64_t n = std::min<int64_t>(o.calibration_images, images.size(0));
  torch::Generator gen = at::detail::createCPUGenerator(o.seed * 0x9E3779B97F4A7C15ULL + 0xCA11B);
  const torch::Tensor order = torch::randperm(images.size(0), gen, torch::kLong);
  return images.index_select(0, order.narrow(0, 0, n));
}

double subnet_accuracy(ElasticCnnImpl& net, const Genome& genome, const torch::Tensor& calibration,
                       const ImageSet& data, const TofaOptions& o) {
  net.recalibrate_bn(genome, calibration, o.calibration_batch);
  EvalModeScope eval(net);
  return accuracy([&](const torch::Tensor& x) { return net.forward(x, genome); }, data);
}

AccuracyPredictor fit_tofa_predictor(ElasticCnnImpl& net, const torch::Tensor& calibration, const ImageSet& validation,
                                     const TofaOptions& o, std::vector<PredictorSample>* samples) {
  const ElasticSpace& space = net.space();
  SubnetRng rng = step_rng(o.seed, 0, /*stream=*/0x9ED1C7);
  std::vector<Genome> genomes{space.largest(), space.smallest(all_gene_kinds())};
  std::set<Genome> seen(genomes.begin(), genomes.end());
  for (int64_t tries = 0; static_cast<int64_t>(genomes.size()) < o.predictor_samples && tries < 100000; ++tries) {
    Genome g = space.canonical(space.random(rng, all_gene_kinds()));
    if (seen.insert(g).second) genomes.push_back(g);
  }
  std::vector<std::vector<double>> features;
  std::vector<double> targets;
  for (const auto& g : genomes) {
    const double acc = subnet_accuracy(net, g, calibration, validation, o);
    features.push_back(space.features(g));
    targets.push_back(acc);
    if (samples) samples->push_back({g, acc});
  }
  return AccuracyPredictor::fit(features, targets, o.predictor_ridge);
}

nlohmann::json TofaSelection::to_json(const ElasticSpace& space) const {
  return {{"subnet", space.to_json(genome)},
          {"cost", cost.to_json()},
          {"predicted_accuracy", predicted_accuracy},
          {"search_seconds", seconds},
          {"scored", scored}};
}

TofaSelection select_subnet(ElasticCnnImpl& net, const AccuracyPredictor& predictor, LatencyTable& table,
                            const std::vector<Budget>& budgets, const SearchOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const ElasticSpace& space = net.space();
  SearchResult r = evolutionary_search(
      space, budgets, [&](const Genome& g) { return table_cost(net, g, table); },
      [&](const Genome& g) { return predictor.predict(space.features(g)); }, options);
  TofaSelection s;
  s.genome = space.canonical(r.best.genome);
  s.cost = r.best.cost;
  s.predicted_accuracy = r.best.score;
  s.scored = r.scored;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

double measure_model_latency_ms(ImageClassifierImpl& model) {
  torch::NoGradGuard no_grad;
  EvalModeScope eval(model);
  const torch::Tensor x = torch::randn({1, model.in_channels(), model.image_size(), model.image_size()});
  return measure_latency_ms([&] { model.forward(x); });
}

// ---- run directories

void save_tofa_run(const std::string& dir, ElasticCnnImpl& net, const TofaOptions& o,
                   const AccuracyPredictor& predictor, const nlohmann::json& report) {
  std::filesystem::create_directories(dir);
  save_tensors(dir + "/supernet.safetensors", module_tensors(net), {{"format", "pt"}});
  Params p(tofa_options_schema().specs(o));
  write_file_atomic(dir + "/options.yaml", p.dump_yaml());
  nlohmann::json config = {
      {"type", "loom_tofa_supernet"}, {"format_version", 1}, {"cnn", net.config().to_json()}, {"report", report}};
  write_file_atomic(dir + "/config.json", config.dump(2) + "\n");
  write_file_atomic(dir + "/predictor.json", predictor.to_json().dump(2) + "\n");
}

TofaRun load_tofa_run(const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  if (!std::filesystem::exists(config_path)) throw Error(dir + ": not a `loom tofa train` run (no config.json)");
  const nlohmann::json config = read_json_file(config_path);
  if (!config.is_object() || config.value("type", "") != "loom_tofa_supernet")
    throw Error(config_path + ": type is not 'loom_tofa_supernet'");
  if (!config.contains("format_version") || config.at("format_version") != 1)
    throw Error(config_path + ": format_version must be 1");
  if (!config.contains("cnn")) throw Error(config_path + ": missing key 'cnn'");
  TofaRun run;
  Params p(tofa_options_schema().specs());
  p.load_yaml_file(dir + "/options.yaml");
  run.options = tofa_options_schema().read(p);
  run.net = ElasticCnn(ElasticCnnConfig::from_json(config.at("cnn"), config_path));
  load_module_tensors(*run.net, dir + "/supernet.safetensors");
  run.predictor = AccuracyPredictor::from_json(read_json_file(dir + "/predictor.json"), dir + "/predictor.json");
  return run;
}

}  // namespace loom
