#include "loom/models/model_dir.h"

#include <filesystem>
#include <functional>
#include <set>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/models/image_classifier.h"
#include "loom/models/model_registry.h"

namespace loom {
namespace fs = std::filesystem;

namespace {

std::string require_file(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  if (!fs::exists(path)) throw Error(dir + ": model directory is missing " + name);
  return path;
}

}  // namespace

NamedTensors model_state(torch::nn::Module& model) {
  // Extensions register their parameters as children of the linear layer
  // they extend; a plain linear layer has no children.
  std::vector<std::string> extension_prefixes;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    auto* linear = dynamic_cast<LinearImpl*>(item.value().get());
    if (!linear || !linear->extension()) continue;
    for (const auto& child : linear->named_children())
      extension_prefixes.push_back(item.key() + "." + child.key() + ".");
  }
  NamedTensors out;
  for (const auto& p : model.named_parameters()) {
    bool extension = false;
    for (const auto& prefix : extension_prefixes) extension |= p.key().rfind(prefix, 0) == 0;
    if (!extension) out.push_back({p.key(), p.value()});
  }
  return out;
}

namespace {

// Copies `tensors` into `state`: every entry must be present with its shape,
// and none may be left over unless `ignores` says so.
void load_state(const NamedTensors& state, const std::map<std::string, torch::Tensor>& tensors,
                const std::string& origin, const std::function<bool(const std::string&)>& ignores) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (const auto& [name, param] : state) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw Error(origin + ": missing tensor '" + name + "'");
    if (it->second.sizes() != param.sizes())
      throw Error(origin + ": tensor '" + name + "' has shape " + c10::str(it->second.sizes()) +
                  " but the config implies " + c10::str(param.sizes()));
    torch::Tensor dst = param;
    dst.copy_(it->second.to(param.scalar_type()));
    used.insert(name);
  }
  for (const auto& [name, t] : tensors) {
    if (used.count(name) || ignores(name)) continue;
    throw Error(origin + ": unexpected tensor '" + name + "' (does config.json match these weights?)");
  }
}

// The weights file of a model directory, checked against what config.json
// implies before anything is allocated (the family's size_of) and for NaN.
std::map<std::string, torch::Tensor> read_checked_weights(const std::string& dir, const nlohmann::json& config,
                                                          const std::string& config_path) {
  const ModelSize size = model_size_of(config, config_path);  // checks the config, allocates nothing
  // The weights before the model: what config.json implies is compared with
  // what the weights file holds, so that a 300-byte config cannot allocate
  // gigabytes for a model whose weights are not there. The bound is loose
  // (building the model may cost at most about three times the weights), so
  // that a near miss still gets load_state's exact tensor-by-tensor error.
  const std::string weights = require_file(dir, "model.safetensors");
  auto tensors = load_tensors(weights);
  int64_t held = 0;
  for (const auto& [name, t] : tensors) {
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
      throw Error(weights + ": tensor '" + name + "' holds NaN or infinite values");
    held += t.numel();
  }
  constexpr int64_t kSlack = int64_t{1} << 20;
  if (size.parameters > 2 * held + kSlack)
    throw Error(config_path + ": describes a model of " + std::to_string(size.parameters) + " parameters, but " +
                weights + " holds only " + std::to_string(held) +
                " values (does config.json match these weights?); refusing to allocate it");
  // Tables computed from the config (real models need a few percent of
  // their weights for them).
  if (size.buffers > held + 4 * kSlack)
    throw Error(config_path + ": its position tables (2 x max_position_embeddings x head_dim) would take " +
                std::to_string(size.buffers) + " values, more than the " + std::to_string(held) + " weights in " +
                weights + "; lower max_position_embeddings");
  return tensors;
}

// An image classifier's state: its parameters and buffers (BN statistics).
NamedTensors classifier_state(torch::nn::Module& model) {
  NamedTensors out;
  for (const auto& p : model.named_parameters()) out.push_back({p.key(), p.value()});
  for (const auto& b : model.named_buffers()) out.push_back({b.key(), b.value()});
  return out;
}

}  // namespace

void load_model_state(CausalLMImpl& model, const std::map<std::string, torch::Tensor>& tensors,
                      const std::string& origin) {
  load_state(model_state(model), tensors, origin, [&](const std::string& name) { return model.ignores_tensor(name); });
}

void save_model_dir(const std::string& dir, CausalLMImpl& model, const Tokenizer& tokenizer,
                    const GenerationDefaults& generation) {
  make_dirs(dir);
  nlohmann::json cfg = model.config_json();
  // config.json's special ids follow the tokenizer the model is saved with.
  for (auto [key, id] : {std::pair<const char*, int32_t>{"bos_token_id", tokenizer.bos_id()},
                         {"eos_token_id", tokenizer.eos_id()},
                         {"pad_token_id", tokenizer.pad_id()}}) {
    if (id >= 0)
      cfg[key] = id;
    else
      cfg.erase(key);
  }
  auto special = [&](const char* key) -> int64_t { return cfg.contains(key) ? cfg[key].get<int64_t>() : -1; };
  tokenizer.save(dir + "/tokenizer.json");
  auto name_of = [&](int32_t id) -> nlohmann::json {
    return id >= 0 ? nlohmann::json(tokenizer.id_to_token(id)) : nlohmann::json(nullptr);
  };
  nlohmann::json tok_cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                            {"bos_token", name_of(tokenizer.bos_id())},
                            {"eos_token", name_of(tokenizer.eos_id())},
                            {"pad_token", name_of(tokenizer.pad_id())},
                            {"add_bos_token", true},
                            {"model_max_length", model.max_positions()}};
  write_file_atomic(dir + "/tokenizer_config.json", tok_cfg.dump(2));
  nlohmann::json gen = {{"bos_token_id", special("bos_token_id")},    {"eos_token_id", special("eos_token_id")},
                        {"pad_token_id", special("pad_token_id")},    {"do_sample", generation.temperature > 0},
                        {"temperature", generation.temperature},      {"top_p", generation.top_p},
                        {"max_new_tokens", generation.max_new_tokens}};
  write_file_atomic(dir + "/generation_config.json", gen.dump(2));
  save_tensors(dir + "/model.safetensors", model_state(model), {{"format", "pt"}});
  write_file_atomic(dir + "/config.json", cfg.dump(2));
}

LoadedModel load_model_dir(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(dir + ": no such model directory");
  LoadedModel out;
  const std::string config_path = require_file(dir, "config.json");
  out.config = read_json_file(config_path);
  const auto tensors = read_checked_weights(dir, out.config, config_path);
  out.model = model_from_config(out.config, config_path);
  out.tokenizer = Tokenizer::load(require_file(dir, "tokenizer.json"));
  if (out.tokenizer.vocab_size() > out.model->vocab_size())
    throw Error(dir + "/tokenizer.json: vocabulary of " + std::to_string(out.tokenizer.vocab_size()) +
                " exceeds config.json vocab_size " + std::to_string(out.model->vocab_size()));
  // config.json's special ids are authoritative, as in transformers.
  auto pick = [&](const char* key, int32_t guessed) {
    if (!out.config.contains(key) || out.config[key].is_null()) return guessed;
    const auto& v = out.config[key].is_array() && !out.config[key].empty() ? out.config[key][0] : out.config[key];
    if (!v.is_number_integer()) throw Error(config_path + ": field '" + key + "' must be an integer");
    const int64_t id = v.get<int64_t>();
    return id >= 0 ? static_cast<int32_t>(id) : guessed;
  };
  const Tokenizer& tok = out.tokenizer;
  out.tokenizer.set_special_ids(pick("bos_token_id", tok.bos_id()), pick("eos_token_id", tok.eos_id()),
                                pick("pad_token_id", tok.pad_id()));
  std::string gen_path = dir + "/generation_config.json";
  if (fs::exists(gen_path)) {
    auto g = read_json_file(gen_path);
    if (g.contains("temperature") && g["temperature"].is_number()) out.generation.temperature = g["temperature"];
    if (g.contains("top_p") && g["top_p"].is_number()) out.generation.top_p = g["top_p"];
    if (g.contains("max_new_tokens") && g["max_new_tokens"].is_number_integer())
      out.generation.max_new_tokens = g["max_new_tokens"];
    if (g.contains("do_sample") && g["do_sample"].is_boolean() && !g["do_sample"].get<bool>())
      out.generation.temperature = 0;
  }
  load_model_state(*out.model, tensors, dir + "/model.safetensors");
  return out;
}

void save_image_classifier_dir(const std::string& dir, ImageClassifierImpl& model, const nlohmann::json& extra) {
  make_dirs(dir);
  NamedTensors state;
  for (const auto& [name, t] : classifier_state(model)) state.push_back({name, t.detach().contiguous()});
  save_tensors(dir + "/model.safetensors", state, {{"format", "pt"}});
  nlohmann::json config = model.config_json();
  if (!extra.is_null()) config["extra"] = extra;
  write_file_atomic(dir + "/config.json", config.dump(2) + "\n");
}

LoadedClassifier load_image_classifier_dir(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(dir + ": no such model directory");
  LoadedClassifier out;
  const std::string config_path = require_file(dir, "config.json");
  out.config = read_json_file(config_path);
  const auto tensors = read_checked_weights(dir, out.config, config_path);
  out.model = classifier_from_config(out.config, config_path);
  load_state(classifier_state(*out.model), tensors, dir + "/model.safetensors",
             [](const std::string&) { return false; });
  out.model->eval();
  return out;
}

std::shared_ptr<LlamaForCausalLMImpl> as_llama(const CausalLM& model, const std::string& origin) {
  auto llama = std::dynamic_pointer_cast<LlamaForCausalLMImpl>(model);
  if (!llama) throw Error(origin + ": expected a llama model, got model_type '" + model->model_type() + "'");
  return llama;
}

CausalLM clone_model(CausalLMImpl& model) {
  CausalLM copy = model_from_config(model.config_json(), "model of type " + model.model_type());
  std::map<std::string, torch::Tensor> state;
  for (auto& [name, t] : model_state(model)) state[name] = t;
  load_model_state(*copy, state, "copy of a " + model.model_type() + " model");
  return copy;
}

}  // namespace loom
