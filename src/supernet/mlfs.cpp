#include "loom/supernet/mlfs.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <iostream>

#include "loom/adapters/lora.h"
#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/jsonl.h"
#include "loom/dist/communicator.h"
#include "loom/models/model_dir.h"
#include "loom/supernet/extract.h"
#include "loom/supernet/importance.h"
#include "loom/tensor/eval_mode.h"
#include "loom/train/trainer.h"

namespace loom {
namespace fs = std::filesystem;

// ---------- options ----------

const ParamSchema<EncoderPretrainOptions>& encoder_pretrain_schema() {
  using O = EncoderPretrainOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("corpus", &O::corpus, "text JSONL to pretrain on (`loom data --out data/corpus`)")
        .include<TopicDataOptions>(topic_data_schema(), [](O& o) -> TopicDataOptions& { return o.topics; })
        .add("vocab_size", &O::vocab_size, "vocabulary of the tokenizer trained on the corpus", {259, 1 << 20})
        .add("hidden_size", &O::hidden_size, "encoder hidden size", {2, 1 << 16})
        .add("intermediate_size", &O::intermediate_size, "encoder SwiGLU inner size", {1, 1 << 18})
        .add("num_layers", &O::num_layers, "encoder layers", {1, 1024})
        .add("num_heads", &O::num_heads, "attention heads", {1, 1024})
        .add("num_kv_heads", &O::num_kv_heads, "key/value heads (grouped-query attention when fewer)", {1, 1024})
        .add("max_seq_len", &O::max_seq_len, "longer documents are split", {2, 1 << 20})
        .add("max_docs", &O::max_docs, "corpus documents used; 0 = all", {0, 1e12})
        .add("mask_probability", &O::mask_probability, "share of tokens masked (BERT: 0.15)", {0.01, 1})
        .include<LoopOptions>(loop_options_schema(""), [](O& o) -> LoopOptions& { return o.loop; })
        .add("seed", &O::seed, "seed of initialisation, data order and masking")
        .add("threads", &O::threads, "compute threads; 0 = all cores", {0, 1024});
    return s;
  }();
  return schema;
}

const EnumNames<SupernetTuning>& supernet_tuning_names() {
  static const EnumNames<SupernetTuning> names = {{SupernetTuning::Lora, "lora"}, {SupernetTuning::Full, "full"}};
  return names;
}

const EnumNames<HiddenProjectionKind>& hidden_projection_names() {
  static const EnumNames<HiddenProjectionKind> names = {{HiddenProjectionKind::LoraA, "lora_a"},
                                                        {HiddenProjectionKind::Slice, "slice"}};
  return names;
}

const ParamSchema<MlfsOptions>& mlfs_options_schema() {
  using O = MlfsOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    auto loop = [](LoopOptions O::*member) {
      return std::function<LoopOptions&(O&)>([member](O& o) -> LoopOptions& { return o.*member; });
    };
    s.add_enum("task", &O::task, task_kind_names(), "classify (encoder, fortune topics) or lm (decoder)")
        .add("teacher", &O::teacher, "model directory of the teacher: a loom_encoder (classify) or a llama (lm)")
        .include<TopicDataOptions>(topic_data_schema(), [](O& o) -> TopicDataOptions& { return o.topics; })
        .add("train_data", &O::train_data, "lm: training JSONL")
        .add("valid_data", &O::valid_data, "lm: JSONL split in half into validation (search) and test (reported)")
        .add("max_train_examples", &O::max_train_examples, "lm: training examples kept; 0 = all", {0, 1e12})
        .add("max_valid_examples", &O::max_valid_examples, "lm: validation + test examples kept; 0 = all", {0, 1e12})
        .add("max_seq_len", &O::max_seq_len, "tokens per example (longer ones are cut or split)", {2, 1 << 20})
        .include<LoopOptions>(loop_options_schema("stage0_"), loop(&O::stage0))
        .include<LoopOptions>(loop_options_schema("stage1_"), loop(&O::stage1))
        .include<LoopOptions>(loop_options_schema("stage2_"), loop(&O::stage2))
        .add("multistage", &O::multistage,
             "stage 1 (width) before stage 2 (width + depth); false: stage 2 alone with both stages' steps")
        .add_enum("tuning", &O::tuning, supernet_tuning_names(),
                  "stages 1-2: one shared LoRA on frozen super-weights, or full super-weights")
        .add("lora_r", &O::lora_r, "rank of the shared adapter (MLFS: 8)", {1, 4096})
        .add("lora_alpha", &O::lora_alpha, "LoRA alpha (scaling alpha / r)", {1e-6, 1e6})
        .add("lora_targets", &O::lora_targets, "linear layers that carry the adapter; all = every projection")
        .add("importance_reorder", &O::importance_reorder,
             "before stage 1, permute heads, FFN and hidden channels by activation importance (Minitron)")
        .add("calibration_examples", &O::calibration_examples, "training examples ranked on", {1, 1e9})
        .add_choice("sampler", &O::sampler, subnet_samplers().names(), "how each step picks its subnets")
        .add("num_random", &O::num_random, "random subnets per step besides the largest (and smallest)", {0, 1024})
        .include<TransformerSpaceOptions>(transformer_space_schema(),
                                          [](O& o) -> TransformerSpaceOptions& { return o.space; })
        .add_enum("layer_mapping", &O::layer_mapping, layer_mapping_names(),
                  "maxnet layer each subnet layer's hidden state is distilled from")
        .add_enum("hidden_projection", &O::hidden_projection, hidden_projection_names(),
                  "hidden distillation through the maxnet's LoRA A (sliced), or on the first-k channels")
        .include<DistillOptions>(distill_options_schema(), [](O& o) -> DistillOptions& { return o.distill; })
        .add("eval_batch_size", &O::eval_batch_size, "examples per evaluation batch", {1, 1e6})
        .add("seed", &O::seed, "seed of adapters, heads, data order and subnet sampling")
        .add("threads", &O::threads, "compute threads; 0 = all cores", {0, 1024});
    return s;
  }();
  return schema;
}

// ---------- masked-LM pretraining ----------

std::vector<std::string> mlm_pretraining_texts(const EncoderPretrainOptions& o, size_t* removed) {
  const TopicDataset topics = build_topic_dataset(o.topics);
  std::vector<std::string> docs;
  for_each_jsonl(o.corpus, [&](const nlohmann::json& row, size_t line) {
    if (o.max_docs > 0 && static_cast<int64_t>(docs.size()) >= o.max_docs) return;
    docs.push_back(jsonl_string_field(row, "text", o.corpus, line));
  });
  return without_held_out(docs, topics, removed);
}

int64_t mask_for_mlm(BatchTensors* batch, const Tokenizer& tok, int64_t mask_id, double probability,
                     at::Generator& gen) {
  auto ids = batch->input_ids.clone();
  auto maskable = torch::ones_like(ids, torch::kBool);
  for (int32_t special : {tok.bos_id(), tok.eos_id(), tok.pad_id()})
    if (special >= 0) maskable &= ids.ne(special);
  auto chosen = torch::rand({ids.size(0)}, gen).lt(probability) & maskable;
  if (chosen.sum().item<int64_t>() == 0) {
    auto first = maskable.nonzero();
    if (first.numel() == 0) throw Error("masked LM: a batch has no token to mask");
    chosen[first[0][0].item<int64_t>()] = true;
  }
  batch->labels = torch::where(chosen, ids, torch::full_like(ids, kIgnoreLabel));
  auto roll = torch::rand({ids.size(0)}, gen);
  auto random_ids = torch::randint(0, tok.vocab_size(), {ids.size(0)}, gen, torch::kLong);
  ids = torch::where(chosen & roll.lt(0.8), torch::full_like(ids, mask_id), ids);
  ids = torch::where(chosen & roll.ge(0.8) & roll.lt(0.9), random_ids, ids);
  batch->input_ids = ids;
  batch->num_label_tokens = chosen.sum().item<int64_t>();
  return batch->num_label_tokens;
}

namespace {

const char* kMaskToken = "<|mask|>";

void write_json(const std::string& path, const nlohmann::json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

TaskSplit as_split(std::vector<Example> examples) {
  TaskSplit s;
  s.examples = std::move(examples);
  return s;
}

double masked_lm_loss(ElasticTransformerImpl& model, const TaskSplit& split, const Tokenizer& tok, int64_t mask_id,
                      double probability, int64_t batch_size, uint64_t seed) {
  torch::NoGradGuard no_grad;
  EvalModeScope eval(model);
  auto gen = at::detail::createCPUGenerator(seed);
  double sum = 0, count = 0;
  const TransformerSpec full = model.full_spec();
  for (size_t begin = 0; begin < split.size(); begin += static_cast<size_t>(batch_size)) {
    std::vector<size_t> idx;
    for (size_t i = begin; i < std::min(split.size(), begin + static_cast<size_t>(batch_size)); ++i) idx.push_back(i);
    TaskBatch b = task_batch(split, idx, tok.pad_id());
    count += static_cast<double>(mask_for_mlm(&b.tensors, tok, mask_id, probability, gen));
    sum +=
        lm_loss_sum(model.hidden_states(full, b.tensors), model.output_weight(full), b.tensors.labels).item<double>();
  }
  return count > 0 ? sum / count : 0;
}

}  // namespace

nlohmann::json pretrain_encoder(const EncoderPretrainOptions& o, const std::string& out, bool resume) {
  register_supernet_model_families();
  make_dirs(out);
  size_t removed = 0;
  auto texts = mlm_pretraining_texts(o, &removed);
  if (texts.size() < 10) throw Error(o.corpus + ": fewer than 10 documents left to pretrain on");
  const std::string tok_path = out + "/tokenizer.json";
  Tokenizer tok;
  if (resume && fs::exists(tok_path)) {
    tok = Tokenizer::load(tok_path);
  } else {
    TokenizerTrainOptions t;
    t.vocab_size = o.vocab_size;
    t.special_tokens.push_back(kMaskToken);
    tok = Tokenizer::train(texts, t);
    tok.save(tok_path);
  }
  const auto mask = tok.token_to_id(kMaskToken);
  if (!mask) throw Error(tok_path + ": the tokenizer has no " + std::string(kMaskToken) + " token");
  DatasetOptions d;
  d.max_seq_len = o.max_seq_len;
  d.empty = EmptyPolicy::Skip;
  std::vector<Example> examples;
  for (const auto& text : texts) examples.push_back(make_text_example(tok, text, d));
  examples = fit_examples(std::move(examples), d);
  std::vector<Example> train, valid;
  split_train_valid(std::move(examples), 0.02, o.seed, &train, &valid);
  const TaskSplit train_split = as_split(std::move(train)), valid_split = as_split(std::move(valid));

  ElasticTransformerConfig cfg;
  cfg.encoder = true;
  cfg.mask_token_id = *mask;
  cfg.llama.vocab_size = tok.vocab_size();
  cfg.llama.hidden_size = o.hidden_size;
  cfg.llama.intermediate_size = o.intermediate_size;
  cfg.llama.num_hidden_layers = o.num_layers;
  cfg.llama.num_attention_heads = o.num_heads;
  cfg.llama.num_key_value_heads = o.num_kv_heads;
  cfg.llama.max_position_embeddings = std::max<int64_t>(512, o.max_seq_len);
  cfg.llama.tie_word_embeddings = true;
  cfg.llama.bos_token_id = tok.bos_id();
  cfg.llama.eos_token_id = tok.eos_id();
  cfg.llama.pad_token_id = tok.pad_id();
  cfg.llama.validate("encoder settings");
  ElasticTransformer model(cfg);
  model->reset_parameters(o.seed);
  const TransformerSpec full = model->full_spec();
  StepBatches batches(train_split.size(), o.loop.batch_size, o.seed);
  auto step_fn = [&](int64_t step) {
    TaskBatch b = task_batch(train_split, batches.batch(step), tok.pad_id());
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(step_rng(o.seed, step, 7)()));
    const double n = static_cast<double>(mask_for_mlm(&b.tensors, tok, *mask, o.mask_probability, gen));
    auto loss = lm_loss_sum(model->hidden_states(full, b.tensors), model->output_weight(full), b.tensors.labels) / n;
    loss.backward();
    return nlohmann::json{{"loss", loss.item<double>()}};
  };
  auto evaluate = [&] {
    return nlohmann::json{
        {"valid_mlm_loss", masked_lm_loss(*model, valid_split, tok, *mask, o.mask_probability, 64, o.seed + 1)}};
  };
  LoopResult r = run_training_loop(o.loop, *model, out, resume, step_fn, evaluate, o.loop.checkpoint_every);
  save_model_dir(out + "/model", *model, tok);
  nlohmann::json report = {{"corpus_documents_kept", texts.size()},
                           {"corpus_documents_removed_as_held_out", removed},
                           {"train_examples", train_split.size()},
                           {"valid_examples", valid_split.size()},
                           {"parameters", model->parameter_count(full)},
                           {"steps", o.loop.steps},
                           {"cpu_seconds", r.cpu_seconds},
                           {"wall_seconds", r.wall_seconds},
                           {"valid_mlm_loss", evaluate()["valid_mlm_loss"]}};
  write_json(out + "/pretrain.json", report);
  return report;
}

// ---------- MLFS stages ----------

TransformerSpec Supernet::spec_of(const Genome& genome) const {
  return transformer_spec_of(space, genome, model->shape(), options.space.depth_rule);
}

TransformerTaskData mlfs_task_data(const MlfsOptions& o, const Tokenizer& tok) {
  if (o.task == TaskKind::Classify) return classification_data(build_topic_dataset(o.topics), tok, o.max_seq_len);
  return language_model_data(o.train_data, o.valid_data, tok, o.max_seq_len, o.max_train_examples,
                             o.max_valid_examples);
}

namespace {

// The teacher as an elastic maxnet for the task: a classification head of
// the task's size (new heads start at N(0, initializer_range), bias 0).
ElasticTransformer teacher_for_task(const MlfsOptions& o, const TransformerTaskData& data, Tokenizer* tok) {
  if (o.teacher.empty()) throw Error("teacher is required (a model directory)");
  LoadedModel m = load_model_dir(o.teacher);
  *tok = m.tokenizer;
  if (o.task == TaskKind::LanguageModel) {
    if (m.model->model_type() == "llama") return elastic_from_llama(*as_llama(m.model, o.teacher));
    auto e = as_elastic_transformer(m.model, o.teacher);
    if (e->is_encoder()) throw Error(o.teacher + ": task lm needs a decoder teacher, got a loom_encoder");
    return ElasticTransformer(e);
  }
  auto e = as_elastic_transformer(m.model, o.teacher);
  if (!e->is_encoder()) throw Error(o.teacher + ": task classify needs a loom_encoder teacher");
  const int64_t labels = static_cast<int64_t>(data.label_names.size());
  if (e->config().num_labels == labels) return ElasticTransformer(e);
  ElasticTransformerConfig cfg = e->config();
  cfg.num_labels = labels;
  ElasticTransformer model(cfg);
  model->reset_parameters(o.seed);
  torch::NoGradGuard no_grad;
  auto source = e->named_parameters();
  for (auto& p : model->named_parameters())
    if (p.key().rfind("score.", 0) != 0) p.value().copy_(source[p.key()]);
  return model;
}

std::set<GeneKind> free_kinds_of_stage(int stage) {
  if (stage == 1) return {GeneKind::Width};
  return {GeneKind::Width, GeneKind::Depth};
}

struct StageRun {
  int stage;
  std::string dir;
  LoopOptions loop;
  std::string sampler;
  std::set<GeneKind> free;
};

nlohmann::json run_stage(const StageRun& run, const MlfsOptions& o, ElasticTransformer& model, const Tokenizer& tok,
                         const TransformerTaskData& data, const ElasticSpace& space, bool resume) {
  const TransformerShape shape = model->shape();
  auto spec_of = [&](const Genome& g) { return transformer_spec_of(space, g, shape, o.space.depth_rule); };
  const SubnetSampler& sampler = subnet_samplers().get(run.sampler, "sampler");
  const SampleRequest request{o.num_random, run.free};
  HiddenProjection projection;
  if (o.hidden_projection == HiddenProjectionKind::LoraA && has_lora(*model))
    projection = [&](int64_t layer) { return model->lora_projection(layer); };
  auto trainable = [&](const Genome& g) { return model->trainable_count(spec_of(g)); };
  auto subnets_of_step = [&](int64_t step) {
    SubnetRng rng = step_rng(o.seed, step, static_cast<uint64_t>(run.stage));
    return sampler.sample(space, request, rng);
  };
  const TransformerSpec smallest = spec_of(space.canonical(space.smallest(run.free)));
  nlohmann::json report = {{"stage", run.stage}, {"steps", run.loop.steps}, {"sampler", run.sampler}};
  if (o.task == TaskKind::Classify) {
    StepBatches batches(data.train.size(), run.loop.batch_size, o.seed + static_cast<uint64_t>(run.stage));
    auto step_fn = [&](int64_t step) {
      TaskBatch b = task_batch(data.train, batches.batch(step), tok.pad_id());
      auto forward = [&](const Genome& g, const PassRequest& q) {
        return transformer_pass(*model, o.task, spec_of(g), b, q, o.layer_mapping);
      };
      StepReport r = supernet_step(subnets_of_step(step), forward, o.distill, trainable, projection);
      return nlohmann::json{{"loss", r.total}, {"maxnet_loss", r.subnets.front().task}};
    };
    auto evaluate = [&] {
      return nlohmann::json{
          {"valid_maxnet_accuracy",
           evaluate_subnet(*model, o.task, model->full_spec(), data.valid, o.eval_batch_size).accuracy},
          {"valid_smallest_accuracy",
           evaluate_subnet(*model, o.task, smallest, data.valid, o.eval_batch_size).accuracy}};
    };
    LoopResult r = run_training_loop(run.loop, *model, run.dir, resume, step_fn, evaluate, run.loop.steps);
    report["cpu_seconds"] = r.cpu_seconds;
    report["wall_seconds"] = r.wall_seconds;
    report.update(evaluate());
  } else {
    // Decoders: the core trainer, each micro-batch one supernet step.
    TrainOptions t;
    t.max_steps = run.loop.steps;
    t.micro_batch_size = run.loop.batch_size;
    t.lr = run.loop.lr;
    t.min_lr_ratio = run.loop.min_lr_ratio;
    t.weight_decay = run.loop.weight_decay;
    t.beta1 = run.loop.beta1;
    t.beta2 = run.loop.beta2;
    t.warmup_steps = run.loop.warmup_steps;
    t.grad_clip = run.loop.grad_clip;
    t.seed = o.seed + static_cast<uint64_t>(run.stage);
    t.threads = o.threads;
    t.log_every = run.loop.log_every;
    t.eval_every = 0;
    t.eval_max_batches = 0;
    t.checkpoint_every = run.loop.checkpoint_every;
    t.keep_checkpoints = 1;
    t.progress = false;
    t.dataset.max_seq_len = o.max_seq_len;
    auto comm = Communicator::create(DistOptions{});
    Trainer trainer(t, model.ptr(), tok, data.train.examples, data.valid.examples, comm.get(), run.dir);
    trainer.set_micro_batch_step([&](const BatchTensors& batch, double normalizer) {
      TaskBatch b{batch, {}};
      auto forward = [&](const Genome& g, const PassRequest& q) {
        return transformer_pass(*model, o.task, spec_of(g), b, q, o.layer_mapping, normalizer);
      };
      return supernet_step(subnets_of_step(trainer.step()), forward, o.distill, trainable, projection).total;
    });
    if (has_lora(*model))
      trainer.add_artifact_writer([&](const std::string& dir) { save_peft_adapter(dir + "/adapter", *model); });
    const double cpu0 = process_cpu_seconds();
    trainer.run(resume);
    report["cpu_seconds"] = process_cpu_seconds() - cpu0;
    report["valid_maxnet_loss"] =
        evaluate_subnet(*model, o.task, model->full_spec(), data.valid, o.eval_batch_size).loss;
    report["valid_smallest_loss"] = evaluate_subnet(*model, o.task, smallest, data.valid, o.eval_batch_size).loss;
  }
  if (o.task == TaskKind::Classify) {
    save_model_dir(run.dir + "/model", *model, tok);
    if (has_lora(*model)) save_peft_adapter(run.dir + "/adapter", *model);
  }
  write_json(run.dir + "/done.json", report);
  return report;
}

// Loads a finished stage's model (and adapter) as an elastic transformer.
ElasticTransformer load_stage(const std::string& dir, Tokenizer* tok) {
  LoadedModel m = load_model_dir(dir + "/model");
  *tok = m.tokenizer;
  auto e = as_elastic_transformer(m.model, dir + "/model");
  if (fs::exists(dir + "/adapter/adapter_config.json")) apply_peft_adapter(*e, load_peft_adapter(dir + "/adapter"));
  return ElasticTransformer(e);
}

std::vector<BatchTensors> calibration_batches(const TransformerTaskData& data, int64_t examples, int64_t batch_size,
                                              int32_t pad_id) {
  std::vector<BatchTensors> out;
  const size_t n = std::min(data.train.size(), static_cast<size_t>(examples));
  for (size_t begin = 0; begin < n; begin += static_cast<size_t>(batch_size)) {
    std::vector<size_t> idx;
    for (size_t i = begin; i < std::min(n, begin + static_cast<size_t>(batch_size)); ++i) idx.push_back(i);
    out.push_back(task_batch(data.train, idx, pad_id).tensors);
  }
  return out;
}

void prepare_supernet_weights(const MlfsOptions& o, ElasticTransformer& model) {
  if (o.tuning == SupernetTuning::Full) return;
  LoraConfig lora;
  lora.r = o.lora_r;
  lora.alpha = o.lora_alpha;
  lora.target_modules = parse_lora_targets(o.lora_targets, "lora_targets");
  attach_lora(*model, lora, o.seed);
  // The task head is new to the task and trains with the adapter (PEFT's modules_to_save).
  if (model->score)
    for (auto& p : model->score->parameters()) p.set_requires_grad(true);
}

}  // namespace

nlohmann::json train_mlfs(const MlfsOptions& o, const std::string& run_dir, bool resume, int last_stage) {
  register_supernet_model_families();
  make_dirs(run_dir);
  write_file_atomic(run_dir + "/config.yaml", Params(mlfs_options_schema().specs(o)).dump_yaml());
  Tokenizer tok;
  // The teacher's tokenizer decides the task data.
  {
    LoadedModel peek = load_model_dir(o.teacher);
    tok = peek.tokenizer;
  }
  const TransformerTaskData data = mlfs_task_data(o, tok);
  nlohmann::json report = {{"stages", nlohmann::json::array()}};
  auto done = [&](const std::string& dir) { return resume && fs::exists(dir + "/done.json"); };

  // Stage 0: the teacher, fine-tuned on the task (all weights).
  const std::string dir0 = run_dir + "/stage-0";
  ElasticTransformer model{nullptr};
  if (done(dir0)) {
    model = load_stage(dir0, &tok);
    report["stages"].push_back(read_json_file(dir0 + "/done.json"));
  } else {
    model = teacher_for_task(o, data, &tok);
  }
  const ElasticSpace space = transformer_space(model->shape(), o.space, "search space");
  if (!done(dir0))
    report["stages"].push_back(run_stage({0, dir0, o.stage0, "largest", {}}, o, model, tok, data, space, resume));
  if (last_stage == 0) {
    report["final_stage"] = dir0;
    write_json(run_dir + "/supernet.json", report);
    return report;
  }

  // Stages 1 and 2 share one adapter on the frozen teacher.
  std::vector<StageRun> stages;
  if (o.multistage) {
    stages.push_back({1, run_dir + "/stage-1", o.stage1, o.sampler, free_kinds_of_stage(1)});
    stages.push_back({2, run_dir + "/stage-2", o.stage2, o.sampler, free_kinds_of_stage(2)});
  } else {
    LoopOptions both = o.stage2;
    both.steps = o.stage1.steps + o.stage2.steps;
    stages.push_back({2, run_dir + "/stage-2", both, o.sampler, free_kinds_of_stage(2)});
  }
  bool prepared = false;
  for (size_t i = 0; i < stages.size(); ++i) {
    const StageRun& st = stages[i];
    if (done(st.dir)) {
      model = load_stage(st.dir, &tok);
      prepared = true;
      report["stages"].push_back(read_json_file(st.dir + "/done.json"));
      continue;
    }
    if (!prepared) {
      if (o.importance_reorder)
        reorder_by_importance(*model,
                              calibration_batches(data, o.calibration_examples, o.eval_batch_size, tok.pad_id()));
      prepare_supernet_weights(o, model);
      prepared = true;
    }
    report["stages"].push_back(run_stage(st, o, model, tok, data, space, resume));
  }
  report["final_stage"] = stages.back().dir;
  write_json(run_dir + "/supernet.json", report);
  return report;
}

Supernet load_supernet(const std::string& run_dir) {
  register_supernet_model_families();
  const std::string cfg_path = run_dir + "/config.yaml";
  if (!fs::exists(cfg_path)) throw Error(run_dir + ": not an MLFS run directory (no config.yaml)");
  if (!fs::exists(run_dir + "/supernet.json"))
    throw Error(run_dir + ": training has not finished (no supernet.json); rerun with --resume");
  Params p(mlfs_options_schema().specs());
  p.load_yaml_file(cfg_path);
  Supernet s;
  s.options = mlfs_options_schema().read(p);
  s.run_dir = run_dir;
  const nlohmann::json report = read_json_file(run_dir + "/supernet.json");
  const std::string stage = report.value("final_stage", std::string());
  s.model = load_stage(stage.empty() ? run_dir + "/stage-2" : stage, &s.tokenizer);
  s.space = transformer_space(s.model->shape(), s.options.space, cfg_path);
  s.data = mlfs_task_data(s.options, s.tokenizer);
  s.model->eval();
  return s;
}

// ---------- costs, search, extraction ----------

SubnetCost transformer_cost(ElasticTransformerImpl& model, const TransformerSpec& spec, int64_t seq_len,
                            LatencyTable* latency) {
  SubnetCost c;
  c.params = static_cast<double>(model.parameter_count(spec));
  c.flops = model.flops(spec, seq_len);
  if (!latency) return c;
  const TransformerShape& shape = model.shape();
  const ElasticTransformerConfig& max = model.config();
  const std::string kind = max.encoder ? "encoder" : "decoder";
  auto dense = [&](int64_t heads, int64_t ffn, int64_t layers) {
    ElasticTransformerConfig cfg = max;
    cfg.llama.hidden_size = spec.hidden_size;
    cfg.llama.head_dim = shape.head_dim;
    cfg.llama.num_hidden_layers = layers;
    cfg.llama.num_attention_heads = std::max<int64_t>(heads, shape.kv_group);
    cfg.llama.num_key_value_heads = cfg.llama.num_attention_heads / shape.kv_group;
    cfg.llama.intermediate_size = std::max<int64_t>(ffn, 1);
    cfg.layer_heads.clear();
    cfg.layer_intermediate_sizes.clear();
    return ElasticTransformer(cfg);
  };
  BatchTensors b;
  b.input_ids = torch::ones({seq_len}, torch::kLong);
  b.position_ids = torch::arange(seq_len, torch::kLong);
  b.cu_seqlens = torch::tensor(std::vector<int32_t>{0, static_cast<int32_t>(seq_len)}, torch::kInt32);
  b.max_seqlen = seq_len;
  torch::NoGradGuard no_grad;
  // The embedding, final norm and head: one layer's model minus that layer.
  const std::string head_key = kind + " head d=" + std::to_string(spec.hidden_size) +
                               " vocab=" + std::to_string(max.llama.vocab_size) +
                               " labels=" + std::to_string(max.num_labels) + " T=" + std::to_string(seq_len);
  double ms = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const std::string key =
        kind + " layer d=" + std::to_string(spec.hidden_size) + " heads=" + std::to_string(spec.heads[i]) +
        " kv=" + std::to_string(spec.heads[i] / shape.kv_group) + " hd=" + std::to_string(shape.head_dim) +
        " ffn=" + std::to_string(spec.ffn[i]) + " T=" + std::to_string(seq_len);
    if (!latency->find(key)) {
      // A one-layer model's forward up to the final norm: the layer plus the
      // embedding gather and one norm, which the head entry then leaves out.
      ElasticTransformer one = dense(spec.heads[i], spec.ffn[i], 1);
      one->eval();
      const TransformerSpec s1 = one->full_spec();
      latency->get(key, [&] { one->hidden_states(s1, b); });
    }
    ms += *latency->find(key);
  }
  if (!latency->find(head_key)) {
    // The output head on the final hidden states (pooling + score, or the LM projection).
    ElasticTransformer one = dense(shape.kv_group, 1, 1);
    one->eval();
    const TransformerSpec s1 = one->full_spec();
    const auto h = torch::randn({seq_len, spec.hidden_size});
    latency->get(head_key, [&] {
      if (max.num_labels > 0)
        one->classify_hidden(s1, h, b.cu_seqlens);
      else
        torch::matmul(h, one->output_weight(s1).t());
    });
  }
  c.latency_ms = ms + *latency->find(head_key);
  return c;
}

nlohmann::json SubnetChoice::to_json() const {
  return {{"spec", spec.to_json()},
          {"cost", cost.to_json()},
          {"score", score},
          {"valid", valid.to_json()},
          {"scored", scored}};
}

SubnetChoice search_subnet(Supernet& s, const std::vector<Budget>& budgets, const SearchOptions& options,
                           LatencyTable* latency) {
  bool needs_latency = false;
  for (const auto& b : budgets) needs_latency |= b.metric == CostMetric::LatencyMs;
  if (needs_latency && !latency) throw Error("a latency budget needs a latency table");
  auto cost = [&](const Genome& g) {
    return transformer_cost(*s.model, s.spec_of(g), s.options.max_seq_len, needs_latency ? latency : nullptr);
  };
  std::map<Genome, TaskScore> scores;
  auto score = [&](const Genome& g) {
    TaskScore t = evaluate_subnet(*s.model, s.options.task, s.spec_of(g), s.data.valid, s.options.eval_batch_size);
    scores[g] = t;
    // Accuracy, with the loss breaking ties (a validation set of a few
    // dozen items ties often); minus the loss for language models.
    return s.options.task == TaskKind::Classify ? t.accuracy - 1e-3 * t.loss : -t.loss;
  };
  SearchResult r = evolutionary_search(s.space, budgets, cost, score, options);
  SubnetChoice c;
  c.genome = r.best.genome;
  c.spec = s.spec_of(r.best.genome);
  c.cost = needs_latency ? r.best.cost : transformer_cost(*s.model, c.spec, s.options.max_seq_len, latency);
  c.score = r.best.score;
  c.valid = scores[r.best.genome];
  c.scored = r.scored;
  return c;
}

void extract_subnet_dir(Supernet& s, const TransformerSpec& spec, const std::string& out_dir) {
  CausalLM dense = extract_transformer(*s.model, spec);
  save_model_dir(out_dir, *dense, s.tokenizer);
  write_json(out_dir + "/spec.json", spec.to_json());
}

}  // namespace loom
