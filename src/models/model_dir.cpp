#include "loom/models/model_dir.h"

#include <filesystem>
#include <set>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"

namespace loom {
namespace fs = std::filesystem;

namespace {

std::string require_file(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  if (!fs::exists(path)) throw Error(dir + ": model directory is missing " + name);
  return path;
}

}  // namespace

bool is_lora_parameter(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

NamedTensors model_state(LlamaForCausalLM& model) {
  NamedTensors out;
  for (const auto& p : model->named_parameters())
    if (!is_lora_parameter(p.key())) out.push_back({p.key(), p.value()});
  return out;
}

void load_model_state(LlamaForCausalLM& model, const std::map<std::string, torch::Tensor>& tensors,
                      const std::string& origin) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& p : model->named_parameters()) {
    if (is_lora_parameter(p.key())) continue;
    auto it = tensors.find(p.key());
    if (it == tensors.end()) throw Error(origin + ": missing tensor '" + p.key() + "'");
    if (it->second.sizes() != p.value().sizes())
      throw Error(origin + ": tensor '" + p.key() + "' has shape " + c10::str(it->second.sizes()) +
                  " but the config implies " + c10::str(p.value().sizes()));
    p.value().copy_(it->second.to(p.value().scalar_type()));
    used.insert(p.key());
  }
  for (const auto& [name, t] : tensors) {
    if (used.count(name)) continue;
    // Old HF checkpoints store the rotary table; tied models may still carry lm_head.
    if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;
    if (name == "lm_head.weight" && model->config().tie_word_embeddings) continue;
    throw Error(origin + ": unexpected tensor '" + name + "' (does config.json match these weights?)");
  }
}

void save_model_dir(const std::string& dir, LlamaForCausalLM& model, const Tokenizer& tokenizer,
                    const GenerationDefaults& generation) {
  make_dirs(dir);
  LlamaConfig cfg = model->config();
  cfg.bos_token_id = tokenizer.bos_id();
  cfg.eos_token_id = tokenizer.eos_id();
  cfg.pad_token_id = tokenizer.pad_id();
  tokenizer.save(dir + "/tokenizer.json");
  auto name_of = [&](int32_t id) -> nlohmann::json {
    return id >= 0 ? nlohmann::json(tokenizer.id_to_token(id)) : nlohmann::json(nullptr);
  };
  nlohmann::json tok_cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                            {"bos_token", name_of(tokenizer.bos_id())},
                            {"eos_token", name_of(tokenizer.eos_id())},
                            {"pad_token", name_of(tokenizer.pad_id())},
                            {"add_bos_token", true},
                            {"model_max_length", cfg.max_position_embeddings}};
  write_file_atomic(dir + "/tokenizer_config.json", tok_cfg.dump(2));
  nlohmann::json gen = {{"bos_token_id", cfg.bos_token_id},           {"eos_token_id", cfg.eos_token_id},
                        {"pad_token_id", cfg.pad_token_id},           {"do_sample", generation.temperature > 0},
                        {"temperature", generation.temperature},      {"top_p", generation.top_p},
                        {"max_new_tokens", generation.max_new_tokens}};
  write_file_atomic(dir + "/generation_config.json", gen.dump(2));
  save_tensors(dir + "/model.safetensors", model_state(model), {{"format", "pt"}});
  write_file_atomic(dir + "/config.json", cfg.to_json().dump(2));
}

LoadedModel load_model_dir(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(dir + ": no such model directory");
  LoadedModel out;
  out.config = LlamaConfig::load(require_file(dir, "config.json"));
  out.tokenizer = Tokenizer::load(require_file(dir, "tokenizer.json"));
  if (out.tokenizer.vocab_size() > out.config.vocab_size)
    throw Error(dir + "/tokenizer.json: vocabulary of " + std::to_string(out.tokenizer.vocab_size()) +
                " exceeds config.json vocab_size " + std::to_string(out.config.vocab_size));
  // config.json's special ids are authoritative, as in transformers.
  auto pick = [](int64_t from_config, int32_t guessed) {
    return from_config >= 0 ? static_cast<int32_t>(from_config) : guessed;
  };
  const Tokenizer& tok = out.tokenizer;
  out.tokenizer.set_special_ids(pick(out.config.bos_token_id, tok.bos_id()),
                                pick(out.config.eos_token_id, tok.eos_id()),
                                pick(out.config.pad_token_id, tok.pad_id()));
  std::string gen_path = dir + "/generation_config.json";
  if (fs::exists(gen_path)) {
    try {
      auto g = nlohmann::json::parse(read_file_text(gen_path));
      if (g.contains("temperature") && g["temperature"].is_number()) out.generation.temperature = g["temperature"];
      if (g.contains("top_p") && g["top_p"].is_number()) out.generation.top_p = g["top_p"];
      if (g.contains("max_new_tokens") && g["max_new_tokens"].is_number_integer())
        out.generation.max_new_tokens = g["max_new_tokens"];
      if (g.contains("do_sample") && g["do_sample"].is_boolean() && !g["do_sample"].get<bool>())
        out.generation.temperature = 0;
    } catch (const nlohmann::json::exception& e) {
      throw Error(gen_path + ": not valid JSON: " + e.what());
    }
  }
  out.model = LlamaForCausalLM(out.config);
  std::string weights = require_file(dir, "model.safetensors");
  load_model_state(out.model, load_tensors(weights), weights);
  return out;
}

}  // namespace loom
