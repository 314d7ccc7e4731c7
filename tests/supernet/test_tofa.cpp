// TOFA: the elastic CNN (slicing, kernel transforms, BN recalibration,
// extraction), the semi-supervised pieces, selection under a budget and the
// bad-input errors. Tiny networks on synthetic images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/models/model_dir.h"
#include "loom/supernet/distill.h"
#include "loom/supernet/elastic_cnn.h"
#include "loom/supernet/latency_table.h"
#include "loom/supernet/tofa.h"
#include "loom/tensor/eval_mode.h"
#include "temp_dir.h"

using namespace loom;
using loom::testing::error_of;

namespace {

ElasticCnnConfig tiny_config() {
  ElasticCnnConfig c;
  c.image_size = 12;
  c.num_classes = 3;
  c.stem_channels = 4;
  c.stage_channels = {"4", "8"};
  c.stage_strides = {"1", "2"};
  c.depths = {"1", "2"};
  c.expand_ratios = {"1", "2"};
  c.kernels = {"3", "5", "7"};
  return c;
}

ElasticCnn tiny_net() {
  torch::manual_seed(3);
  ElasticCnn net(tiny_config());
  // Non-identity kernel transforms and non-trivial BN affine parameters, so
  // that the checks below would see a wrong slice or a skipped transform.
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters())
    if (p.key().find("transform") != std::string::npos || p.key().find("bn_") != std::string::npos)
      p.value().add_(0.1 * torch::randn(p.value().sizes()));
  return net;
}

Genome mixed_genome(const ElasticSpace& space) {
  Genome g = space.largest();
  g[static_cast<size_t>(space.index_of("depth.1"))] = 1;
  g[static_cast<size_t>(space.index_of("expand.0.0"))] = 1;
  g[static_cast<size_t>(space.index_of("kernel.0.0"))] = 3;
  g[static_cast<size_t>(space.index_of("kernel.0.1"))] = 5;
  return g;
}

}  // namespace

TEST(ElasticCnn, SubnetsEqualTheDenseModelsBuiltFromTheirSlicedWeights) {
  ElasticCnn net = tiny_net();
  const torch::Tensor calibration = torch::rand({40, 1, 12, 12}), x = torch::rand({6, 1, 12, 12});
  for (const Genome& g :
       {net->space().largest(), mixed_genome(net->space()), net->space().smallest(all_gene_kinds())}) {
    net->recalibrate_bn(g, calibration, 16);
    StaticCnn dense = extract_cnn(*net, g);
    EXPECT_EQ(dense->blocks.size(), net->shape_of(g).blocks.size());
    torch::Tensor a, b;
    {
      EvalModeScope eval(*net);
      torch::NoGradGuard no_grad;
      a = net->forward(x, g);
      b = dense->forward(x);
    }
    EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << net->space().describe(g);
    // The recalibrated statistics are the population moments of the
    // calibration images at that layer (checked at the stem, computed here).
    torch::NoGradGuard no_grad;
    auto stem = torch::conv2d(calibration, net->stem_weight(), {}, 2, 1);
    EXPECT_TRUE(torch::allclose(dense->stem_bn->running_mean, stem.mean({0, 2, 3}), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(dense->stem_bn->running_var, stem.var({0, 2, 3}, false), 1e-4, 1e-6));
  }
}

TEST(ElasticCnn, SmallKernelsAreTransformedCentresOfTheLargest) {
  ElasticCnn net = tiny_net();
  torch::NoGradGuard no_grad;
  const auto& blk = net->stages()[1][1];
  const int64_t c = 5;
  torch::Tensor w7 = blk.dw_w.narrow(0, 0, c);
  torch::Tensor w5 = torch::matmul(w7.slice(2, 1, 6).slice(3, 1, 6).reshape({c, 25}), blk.transforms[1].t());
  torch::Tensor w3 =
      torch::matmul(w5.reshape({c, 1, 5, 5}).slice(2, 1, 4).slice(3, 1, 4).reshape({c, 9}), blk.transforms[0].t());
  EXPECT_TRUE(torch::allclose(net->effective_kernel(1, 1, 5, c), w5.reshape({c, 1, 5, 5})));
  EXPECT_TRUE(torch::allclose(net->effective_kernel(1, 1, 3, c), w3.reshape({c, 1, 3, 3})));
  EXPECT_TRUE(torch::equal(net->effective_kernel(1, 1, 7, c), w7));
  // The transform is not the plain centre (it would be at identity).
  EXPECT_FALSE(torch::allclose(net->effective_kernel(1, 1, 3, c), w7.slice(2, 2, 5).slice(3, 2, 5), 1e-3, 1e-3));
}

TEST(ElasticCnn, EvaluatingAnUncalibratedSubnetIsAnError) {
  ElasticCnn net = tiny_net();
  net->recalibrate_bn(net->space().largest(), torch::rand({8, 1, 12, 12}), 8);
  EvalModeScope eval(*net);
  EXPECT_NE(error_of([&] {
              net->forward(torch::rand({2, 1, 12, 12}), mixed_genome(net->space()));
            }).find("recalibrate_bn"),
            std::string::npos);
  EXPECT_NE(error_of([&] { extract_cnn(*net, mixed_genome(net->space())); }).find("recalibrate_bn"), std::string::npos);
}

TEST(ElasticCnn, ExportedSubnetsReloadThroughTheModelRegistryAndReproduceTheirOutputsExactly) {
  register_elastic_cnn_family();
  ElasticCnn net = tiny_net();
  const Genome g = mixed_genome(net->space());
  net->recalibrate_bn(g, torch::rand({20, 1, 12, 12}), 10);
  StaticCnn dense = extract_cnn(*net, g);
  const std::string dir = loom::testing::fresh_temp_dir("tofa_export");
  save_image_classifier_dir(dir, *dense, {{"note", "test"}});
  LoadedClassifier back = load_image_classifier_dir(dir);
  EXPECT_EQ(back.model->model_type(), "loom_tofa_cnn");
  EXPECT_EQ(back.config["extra"]["note"], "test");
  ImageSet data{torch::rand({30, 1, 12, 12}), torch::randint(0, 3, {30})};
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(dense->forward(data.images), back.model->forward(data.images)));
  EXPECT_EQ(accuracy([&](const torch::Tensor& x) { return dense->forward(x); }, data),
            accuracy([&](const torch::Tensor& x) { return back.model->forward(x); }, data));
  // Bad files name the file and what is wrong (table-driven: each edits config.json).
  const nlohmann::json good = dense->config_json();
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](nlohmann::json& c) { c["shape"] = nlohmann::json::object(); }, "config.json: 'in_channels'"},
      {[](nlohmann::json& c) { c["format_version"] = 2; }, "config.json: format_version must be 1"},
      {[](nlohmann::json& c) { c["model_type"] = "nope"; }, "unknown model_type 'nope'; valid: llama"},
      {[](nlohmann::json& c) { c["shape"]["blocks"][0]["kernel"] = 1000; }, "blocks[0].'kernel' must be an integer"},
      // The config still describes a valid network, but not these weights.
      {[](nlohmann::json& c) { c["shape"]["num_classes"] = 4; }, "model.safetensors: tensor 'head.weight' has shape"},
  };
  for (const auto& c : cases) {
    nlohmann::json config = good;
    c.edit(config);
    write_file_atomic(dir + "/config.json", config.dump());
    EXPECT_NE(error_of([&] { load_image_classifier_dir(dir); }).find(c.message), std::string::npos) << c.message;
  }
  write_file_atomic(dir + "/config.json", good.dump());
  EXPECT_NE(error_of([&] { load_model_dir(dir); }).find("'loom_tofa_cnn' is an image classifier"), std::string::npos);
  std::filesystem::remove(dir + "/model.safetensors");
  EXPECT_NE(error_of([&] { load_image_classifier_dir(dir); }).find("missing model.safetensors"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(ElasticCnn, CostsGrowWithEveryDimension) {
  ElasticCnn net = tiny_net();
  const ElasticSpace& space = net->space();
  const SubnetCost big = net->analytic_cost(space.largest());
  for (const char* gene : {"depth.1", "expand.1.0", "kernel.1.0"}) {
    Genome g = space.largest();
    g[static_cast<size_t>(space.index_of(gene))] = space.genes()[static_cast<size_t>(space.index_of(gene))].choices[0];
    const SubnetCost small = net->analytic_cost(g);
    EXPECT_LT(small.params, big.params) << gene;
    EXPECT_LT(small.flops, big.flops) << gene;
  }
  // Parameters as the extracted model counts them (transforms excluded).
  Genome g = mixed_genome(space);
  net->recalibrate_bn(g, torch::rand({4, 1, 12, 12}), 4);
  StaticCnn dense = extract_cnn(*net, g);
  int64_t n = 0;
  for (const auto& p : dense->parameters()) n += p.numel();
  EXPECT_EQ(static_cast<double>(n), net->analytic_cost(g).params);
}

TEST(Tofa, ConsistencyTermIsZeroWithoutConfidentPseudoLabelsAndKnownOnPlantedLogits) {
  const auto teacher = torch::tensor({{10.0, 0.0}, {0.0, 0.1}});
  const auto student = torch::tensor({{1.0, 2.0}, {3.0, 4.0}});
  auto none = pseudo_labels(teacher, 1.0 + 1e-9);
  EXPECT_EQ(consistency_loss(student, none).item<double>(), 0.0);
  auto some = pseudo_labels(teacher, 0.95);  // only row 0 is confident (label 0)
  EXPECT_DOUBLE_EQ(some.kept_fraction(), 0.5);
  EXPECT_NEAR(consistency_loss(student, some).item<double>(), std::log(1 + std::exp(1.0)) / 2, 1e-6);
}

TEST(Tofa, WeakAugmentationShiftsAndStrongStaysInRange) {
  torch::Generator gen = at::detail::createCPUGenerator(5);
  AugmentOptions none;
  none.max_shift = 0;
  none.flip = false;
  const torch::Tensor x = torch::rand({4, 1, 10, 10});
  EXPECT_TRUE(torch::equal(augment_weak(x, none, gen), x));
  AugmentOptions shift;
  shift.flip = false;
  torch::Tensor dot = torch::zeros({16, 1, 10, 10});
  dot.index_put_({torch::indexing::Slice(), 0, 5, 5}, 1.0);
  torch::Tensor moved = augment_weak(dot, shift, gen);
  EXPECT_TRUE(torch::allclose(moved.sum({1, 2, 3}), torch::ones({16})));  // nothing falls off the edge
  auto where = moved.view({16, 100}).argmax(1);
  bool any_moved = false;
  for (int64_t i = 0; i < 16; ++i) {
    const int64_t r = where[i].item<int64_t>() / 10, c = where[i].item<int64_t>() % 10;
    EXPECT_LE(std::abs(r - 5), 2);
    EXPECT_LE(std::abs(c - 5), 2);
    any_moved |= r != 5 || c != 5;
  }
  EXPECT_TRUE(any_moved);
  torch::Tensor strong = augment_strong(x, AugmentOptions{}, gen);
  EXPECT_GE(strong.min().item<double>(), 0.0);
  EXPECT_LE(strong.max().item<double>(), 1.0);
  EXPECT_FALSE(torch::allclose(strong, augment_weak(x, AugmentOptions{}, gen)));
}

TEST(TofaSlow, SupernetLearnsAnEasyTaskWithTheUnifiedLoss) {
  // Three classes: a bright left, centre or right band; labelled and unlabelled.
  auto make = [](int64_t n, uint64_t seed) {
    torch::manual_seed(seed);
    torch::Tensor y = torch::randint(0, 3, {n});
    torch::Tensor x = 0.2 * torch::rand({n, 1, 12, 12});
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = y[i].item<int64_t>() * 4;
      x[i].narrow(2, c, 4).add_(0.7);
    }
    return ImageSet{x.clamp(0, 1), y};
  };
  ImageSet labelled = make(30, 1), test = make(60, 2);
  torch::Tensor unlabelled = make(60, 3).images;
  TofaOptions o;
  o.cnn = tiny_config();
  o.augment.flip = false;
  o.augment.max_shift = 0;
  o.threshold = 0.5;
  LoopOptions loop;
  loop.steps = 20;
  loop.batch_size = 8;
  loop.warmup_steps = 3;
  loop.lr = 1e-2;
  ElasticCnn net = make_tofa_supernet(o, 3, 1, 12);
  const double before = subnet_accuracy(*net, net->space().smallest(all_gene_kinds()), labelled.images, test, o);
  train_supernet(*net, labelled, unlabelled, o, loop, "");
  const double smallest = subnet_accuracy(*net, net->space().smallest(all_gene_kinds()), labelled.images, test, o);
  const double largest = subnet_accuracy(*net, net->space().largest(), labelled.images, test, o);
  EXPECT_GT(largest, 0.9);
  EXPECT_GT(smallest, 0.9);
  EXPECT_LT(before, 0.9);
}

TEST(Tofa, AnEmaTeacherWithDecayZeroIsTheMaxnetAndWithDecayNearOneIsNot) {
  // decay 0: the EMA copy holds this step's weights, so training matches the
  // maxnet teacher exactly; decay ≈ 1: the teacher stays at the initial
  // weights, so (every pseudo-label kept, threshold 0) the run differs.
  torch::manual_seed(11);
  ImageSet labelled{torch::rand({8, 1, 12, 12}), torch::randint(0, 3, {8})};
  const torch::Tensor unlabelled = torch::rand({16, 1, 12, 12});
  TofaOptions o;
  o.cnn = tiny_config();
  o.threshold = 0;
  o.num_random = 0;
  LoopOptions loop;
  loop.steps = 3;
  loop.batch_size = 4;
  loop.warmup_steps = 0;
  loop.lr = 1e-2;
  auto trained = [&](const std::string& teacher, double decay) {
    TofaOptions t = o;
    t.teacher = teacher;
    t.ema_decay = decay;
    ElasticCnn net = make_tofa_supernet(t, 3, 1, 12);
    train_supernet(*net, labelled, unlabelled, t, loop, "");
    return net->head_weight().clone();
  };
  const torch::Tensor maxnet = trained("maxnet", 0);
  EXPECT_TRUE(torch::equal(trained("ema", 0), maxnet));
  EXPECT_FALSE(torch::allclose(trained("ema", 0.999999), maxnet));
}

TEST(Tofa, TheLatencyTableIsMeasuredOnceForEveryPartConfiguration) {
  ElasticCnn net = tiny_net();
  LatencyTable table("", this_machine(1), LatencyOptions{0, 1});
  // The tiny space: a stem, a head, and 3 distinct block positions (stage 0's
  // two blocks have one shape: 4 -> 4 channels, stride 1, 6x6) x 2 expand
  // ratios x 3 kernels.
  EXPECT_EQ(measure_latency_table(*net, table), 2 + 3 * 2 * 3);
  EXPECT_TRUE(table.find("overhead per part").has_value());
  EXPECT_EQ(measure_latency_table(*net, table), 0);  // nothing left to measure
  SubnetRng rng(4);
  for (int i = 0; i < 50; ++i) table_cost(*net, net->space().random(rng, all_gene_kinds()), table);
  EXPECT_EQ(table.measured(), 2 + 3 * 2 * 3);  // every search after it only looks entries up
}

TEST(Tofa, BnCalibrationImagesAreDrawnFromEveryClassOfAClassOrderedSet) {
  // Ten classes of ten images, in class order (as split_semi_supervised lays
  // out the labelled set); image i is filled with its class.
  const torch::Tensor images = torch::arange(10).repeat_interleave(10).to(torch::kFloat).view({100, 1, 1, 1});
  TofaOptions o;
  o.calibration_images = 20;
  const torch::Tensor picked = calibration_images(images, o);
  ASSERT_EQ(picked.size(0), 20);
  EXPECT_GE(std::get<0>(at::_unique(picked.flatten())).size(0), 6);  // the first 20 rows would hold 2 classes
  EXPECT_TRUE(torch::equal(picked, calibration_images(images, o)));  // seeded
}

TEST(Tofa, SelectionStaysWithinTheBudgetAndRefusesImpossibleOnes) {
  ElasticCnn net = tiny_net();
  const ElasticSpace& space = net->space();
  LatencyTable table("", this_machine(1), LatencyOptions{1, 3});
  // A predictor that prefers every larger choice.
  std::vector<std::vector<double>> features;
  std::vector<double> targets;
  SubnetRng rng(1);
  for (int i = 0; i < 40; ++i) {
    Genome g = space.random(rng, all_gene_kinds());
    features.push_back(space.features(g));
    targets.push_back(net->analytic_cost(g).flops);
  }
  AccuracyPredictor predictor = AccuracyPredictor::fit(features, targets, 1e-3);
  const double lo = table_cost(*net, space.smallest(all_gene_kinds()), table).latency_ms;
  const double hi = table_cost(*net, space.largest(), table).latency_ms;
  SearchOptions search;
  search.population = 16;
  search.generations = 4;
  for (double f : {0.3, 0.6, 1.0}) {
    const double limit = lo + f * (hi - lo);
    TofaSelection s = select_subnet(*net, predictor, table, {{CostMetric::LatencyMs, limit}}, search);
    EXPECT_LE(s.cost.latency_ms, limit);
    EXPECT_DOUBLE_EQ(table_cost(*net, s.genome, table).latency_ms, s.cost.latency_ms);  // from the table alone
  }
  const double big_flops = net->analytic_cost(space.largest()).flops;
  TofaSelection s = select_subnet(*net, predictor, table,
                                  parse_budgets("flops=" + std::to_string(big_flops * 0.7), "--budget"), search);
  EXPECT_LE(s.cost.flops, big_flops * 0.7);
  EXPECT_NE(error_of([&] {
              select_subnet(*net, predictor, table, parse_budgets("params=10", "--budget"), search);
            }).find("params=10"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_budgets("latency_ms=fast", "--budget"); }).find("--budget"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_budgets("watts=3", "--budget"); }).find("watts"), std::string::npos);
}

TEST(Tofa, BadInputIsAClearError) {
  // More labels per class than the class has.
  ImageSet train{torch::rand({12, 1, 4, 4}), torch::tensor({0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, torch::kLong)};
  EXPECT_NE(error_of([&] {
              split_semi_supervised(train, 2, 5, 2, 0, 0, "labels_per_class");
            }).find("class 0 has 6 training images"),
            std::string::npos);
  auto s = split_semi_supervised(train, 2, 2, 1, 0, 0, "labels_per_class");
  EXPECT_EQ(s.labelled.size(), 4);
  EXPECT_EQ(s.validation.size(), 2);
  EXPECT_EQ(s.unlabelled.size(0), 6);
  // A corrupt IDX file names itself.
  const std::string dir = loom::testing::fresh_temp_dir("tofa_idx");
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/train-images-idx3-ubyte.gz", std::string("\x00\x00\x08\x03\x00\x00\x00\x05", 8));
  write_file_atomic(dir + "/train-labels-idx1-ubyte.gz", std::string("\x00\x00\x08\x01\x00\x00\x00\x05", 8));
  EXPECT_NE(error_of([&] {
              load_fashion_mnist_classes(dir, true, {0, 1});
            }).find("train-images-idx3-ubyte.gz"),
            std::string::npos);
  // A bad digits CSV names its line.
  write_file_atomic(dir + "/digits.csv", "1,2,3\n");
  EXPECT_NE(error_of([&] { load_digits_csv(dir + "/digits.csv"); }).find("digits.csv:1"), std::string::npos);
  std::filesystem::remove_all(dir);
  // Options: overlapping classes, a bad CNN list, an unknown sampler.
  TofaOptions o;
  o.target_classes = {"4", "5"};
  EXPECT_NE(error_of([&] { check_tofa_options(o); }).find("also a source class"), std::string::npos);
  o = TofaOptions{};
  o.cnn.kernels = {"3", "4"};
  EXPECT_NE(error_of([&] { check_tofa_options(o); }).find("kernels"), std::string::npos);
  o = TofaOptions{};
  o.sampler = "nope";
  EXPECT_NE(error_of([&] { check_tofa_options(o); }).find("sandwich"), std::string::npos);
}
