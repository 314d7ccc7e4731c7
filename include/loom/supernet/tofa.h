// TOFA (Transfer-Once-For-All, arXiv 2303.15485; docs/tofa.md): one elastic
// CNN supernet (elastic_cnn.h) trained once on a small labelled target set
// plus unlabelled images, with one semi-supervised loss over every sampled
// subnet per step, then a subnet chosen for each device budget at deployment
// time from a latency table and an accuracy predictor, with no fine-tuning.
//
// The unified loss of one step (supernet_step, step.h), the subnets drawn by
// the generic sampler (sandwich by default):
//   maxnet:  CE(labelled) + λ_u · U
//   subnet:  (1 − α)·CE(labelled) + α·KD(maxnet logits, on labelled and
//            strongly augmented unlabelled rows) + λ_u · U
// with U = FixMatch's consistency term: pseudo-labels from the maxnet on a
// weak augmentation of the unlabelled batch, kept above a confidence
// threshold (0.95), cross-entropy of the subnet on a strong augmentation.
//
//   loom::TofaOptions o;                                   // tofa_options_schema()
//   loom::TofaData data = loom::load_tofa_data(o);
//   loom::ElasticCnn net = loom::make_tofa_supernet(o, /*num_classes=*/5);
//   loom::train_supernet(*net, data.source, {}, o, o.pretrain, "");   // supervised pretraining
//   net->reset_head(5, o.seed);
//   loom::train_supernet(*net, data.split.labelled, data.split.unlabelled, o, o.adapt, "runs/t");
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/supernet/elastic_cnn.h"
#include "loom/supernet/loop.h"
#include "loom/supernet/predictor.h"
#include "loom/supernet/search.h"
#include "loom/supernet/step.h"

namespace loom {

class LatencyTable;

// Images [N, C, H, W] in [0, 1] and their labels [N] (int64).
struct ImageSet {
  torch::Tensor images, labels;
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  ImageSet rows(const torch::Tensor& index) const;
};

// The Fashion-MNIST split ("train" or "t10k") under `dir`, only `classes`,
// relabelled 0..k-1 in the order given. Errors name the file.
ImageSet load_fashion_mnist_classes(const std::string& dir, bool train, const std::vector<int64_t>& classes);
// scikit-learn's bundled 8×8 digits (digits.csv.gz: 64 pixels 0..16 and a
// label per line) as [N, 1, 8, 8] in [0, 1]. Errors name the file and line.
ImageSet load_digits_csv(const std::string& path);

// A seeded split of a training set: `labels_per_class` labelled and
// `valid_per_class` validation images per class, the rest unlabelled (labels
// dropped; at most `max_unlabelled`, 0 = all). A class with too few images is
// an error naming `origin`.
struct SemiSupervisedSplit {
  ImageSet labelled, validation;
  torch::Tensor unlabelled;
};
SemiSupervisedSplit split_semi_supervised(const ImageSet& train, int64_t num_classes, int64_t labels_per_class,
                                          int64_t valid_per_class, int64_t max_unlabelled, uint64_t seed,
                                          const std::string& origin);

// FixMatch's weak and strong augmentations, for images in [0, 1]. FixMatch
// uses RandAugment for the strong one; we use shift + flip + cutout + noise +
// contrast (the paper is silent; docs/tofa.md).
struct AugmentOptions {
  int64_t max_shift = 2;  // weak: random translation by up to this many pixels
  bool flip = true;       // weak: random horizontal flip
  double cutout = 0.4;    // strong: side of a zeroed square, as a fraction of the image side
  double noise = 0.1;     // strong: Gaussian noise std
  double contrast = 0.4;  // strong: contrast factor drawn from [1 - c, 1 + c]
};
torch::Tensor augment_weak(const torch::Tensor& images, const AugmentOptions& options, torch::Generator& gen);
torch::Tensor augment_strong(const torch::Tensor& images, const AugmentOptions& options, torch::Generator& gen);

struct TofaOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string target = "fashion";  // fashion (classes below) | digits (scikit-learn's 8×8 digits)
  std::string digits_csv = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
  std::vector<std::string> source_classes = {"0", "1", "2", "3", "4"};
  std::vector<std::string> target_classes = {"5", "6", "7", "8", "9"};
  int64_t source_per_class = 0;  // source images per class for pretraining; 0 = all
  int64_t labels_per_class = 100;
  int64_t valid_per_class = 50;  // labelled validation images (predictor, search); not trained on
  int64_t max_unlabelled = 0;    // 0 = every remaining training image
  int64_t test_per_class = 0;    // 0 = the whole test split
  ElasticCnnConfig cnn;
  LoopOptions pretrain;  // supervised pretraining of the supernet on the source task
  LoopOptions adapt;     // adaptation to the target task
  DistillOptions distill;
  std::string sampler = "sandwich";
  int64_t num_random = 2;
  double unlabelled_weight = 1.0;  // λ_u; 0 = no unlabelled term (and no unlabelled batch)
  double threshold = 0.95;         // FixMatch's confidence threshold
  // Pseudo-label teacher: the step's maxnet, or the maxnet of an EMA copy of
  // the supernet's weights (Mean Teacher / FixMatch's EMA model); the paper
  // names both and picks neither (docs/tofa.md).
  std::string teacher = "maxnet";  // maxnet | ema
  double ema_decay = 0.99;         // per optimizer step; our runs are short (≈100-step horizon)
  int64_t unlabelled_ratio = 2;    // unlabelled images per labelled one in a batch (FixMatch's μ = 7)
  AugmentOptions augment;
  int64_t calibration_images = 512;  // BN recalibration images per evaluated subnet
  int64_t calibration_batch = 128;
  int64_t predictor_samples = 48;  // subnets evaluated on validation to fit the predictor
  double predictor_ridge = 1e-2;
  SearchOptions search;
  int64_t threads = 1;
  uint64_t seed = 0;
};
const ParamSchema<TofaOptions>& tofa_options_schema();
// Checks what the schema's bounds cannot (class lists, the target name).
void check_tofa_options(const TofaOptions& options);

// Integers from a list option (class lists, seeds, scenario counts): each
// item a whole integer in [lo, hi], else an error "<key>: '<item>' is not <what>".
std::vector<int64_t> parse_int_list(const std::vector<std::string>& items, const std::string& key, int64_t lo,
                                    int64_t hi, const std::string& what);

struct TofaData {
  ImageSet source;            // source classes, every label (or source_per_class)
  SemiSupervisedSplit split;  // target: labelled, validation, unlabelled
  ImageSet test;              // target test split, never trained on
  int64_t num_classes = 0;    // target classes
  int64_t source_classes = 0;
};
TofaData load_tofa_data(const TofaOptions& options);

ElasticCnn make_tofa_supernet(const TofaOptions& options, int64_t num_classes, int64_t in_channels = 1,
                              int64_t image_size = 28);

// Trains every subnet of `net` at once: supervised on `labelled`, plus the
// consistency term on `unlabelled` when it is defined and λ_u > 0. The
// labelled images get the weak augmentation. With teacher = ema, the
// pseudo-labels come from an EMA copy of the weights, which the loop's
// checkpoints carry beside the supernet's (so a resumed run is exact).
LoopResult train_supernet(ElasticCnnImpl& net, const ImageSet& labelled, const torch::Tensor& unlabelled,
                          const TofaOptions& options, const LoopOptions& loop, const std::string& out_dir);

// Trains a fixed network on labelled data alone (cross-entropy, weak augmentation).
LoopResult train_static(StaticCnnImpl& net, const ImageSet& labelled, const TofaOptions& options,
                        const LoopOptions& loop);

// Eval-mode accuracy in [0, 1].
double accuracy(const std::function<torch::Tensor(const torch::Tensor&)>& logits_of, const ImageSet& data);
// Recalibrates BN for `genome` on calibration images, then scores it.
double subnet_accuracy(ElasticCnnImpl& net, const Genome& genome, const torch::Tensor& calibration,
                       const ImageSet& data, const TofaOptions& options);
// `options.calibration_images` of `images`, drawn at random (seeded by
// options.seed): the BN recalibration set.
torch::Tensor calibration_images(const torch::Tensor& images, const TofaOptions& options);

// The predictor fitted on `predictor_samples` subnets (the largest, the
// smallest, random ones), each scored on the validation set; `samples`
// receives (genome, accuracy) rows.
struct PredictorSample {
  Genome genome;
  double accuracy = 0;
};
AccuracyPredictor fit_tofa_predictor(ElasticCnnImpl& net, const torch::Tensor& calibration, const ImageSet& validation,
                                     const TofaOptions& options, std::vector<PredictorSample>* samples);

// The best subnet (by predicted accuracy) within the budgets, latencies from the table.
struct TofaSelection {
  Genome genome;
  SubnetCost cost;
  double predicted_accuracy = 0;
  double seconds = 0;  // wall time of the search
  int64_t scored = 0;
  nlohmann::json to_json(const ElasticSpace& space) const;
};
TofaSelection select_subnet(ElasticCnnImpl& net, const AccuracyPredictor& predictor, LatencyTable& table,
                            const std::vector<Budget>& budgets, const SearchOptions& options);

// Run directories of `loom tofa train`: config.json (options and CNN
// config), supernet.safetensors, predictor.json, latency.json.
void save_tofa_run(const std::string& dir, ElasticCnnImpl& net, const TofaOptions& options,
                   const AccuracyPredictor& predictor, const nlohmann::json& report);
struct TofaRun {
  ElasticCnn net{nullptr};
  TofaOptions options;
  AccuracyPredictor predictor;
};
TofaRun load_tofa_run(const std::string& dir);

// Measured latency of a whole model at batch 1 (median of timed runs).
double measure_model_latency_ms(ImageClassifierImpl& model);

}  // namespace loom
