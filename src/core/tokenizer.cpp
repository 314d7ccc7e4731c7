#include "loom/core/tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "tokenizer_pipeline.h"

namespace loom {

using tokenizer_detail::AddedToken;
using tokenizer_detail::Arena;
using tokenizer_detail::json;
using tokenizer_detail::ojson;
using tokenizer_detail::Piece;
using tokenizer_detail::Pipeline;
using tokenizer_detail::Segment;

namespace tokenizer_detail {

namespace {
constexpr const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bool mentions_byte_level(const ojson& j) {
  if (j.is_object()) {
    if (j.contains("type") && j["type"] == "ByteLevel") return true;
    for (const auto& [k, v] : j.items())
      if (mentions_byte_level(v)) return true;
  } else if (j.is_array()) {
    for (const auto& v : j)
      if (mentions_byte_level(v)) return true;
  }
  return false;
}

uint64_t next_cache_id() {
  static std::atomic<uint64_t> counter{0};
  return ++counter;
}
}  // namespace

ojson byte_level_json() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
}

ojson trained_pre_tokenizer_json(PreTokenizer kind) {
  if (kind == PreTokenizer::Gpt2) return byte_level_json();
  ojson split = {
      {"type", "Split"}, {"pattern", {{"Regex", kLlama3Regex}}}, {"behavior", "Isolated"}, {"invert", false}};
  ojson bl = byte_level_json();
  bl["use_regex"] = false;
  return {{"type", "Sequence"}, {"pretokenizers", {split, bl}}};
}

void Pipeline::finish() {
  byte_level = mentions_byte_level(pre_tokenizer_json) || mentions_byte_level(normalizer_json);
  tokens = model->tokens();
  for (const AddedToken& t : added.tokens())
    if (static_cast<size_t>(t.id) >= tokens.size()) tokens.resize(static_cast<size_t>(t.id) + 1);
  decoded = tokens;
  special.assign(tokens.size(), 0);
  std::vector<std::string> special_contents;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const AddedToken* t = added.by_id(static_cast<int32_t>(id));
    if (!t) continue;
    tokens[id] = t->content;
    decoded[id] = t->normalized ? t->pattern : t->content;
    if (t->special) special_contents.push_back(t->content);
  }
  // HF skips any token whose string is a special token's content.
  std::sort(special_contents.begin(), special_contents.end());
  for (size_t id = 0; id < tokens.size(); ++id)
    special[id] = std::binary_search(special_contents.begin(), special_contents.end(), decoded[id]);
  cache_id = next_cache_id();
}

void Pipeline::words(std::string_view text, Arena* arena, std::vector<Piece>* out) const {
  out->clear();
  std::string_view view = text;
  if (normalizer) {
    arena->emplace_back(text);
    normalizer->apply(&arena->back());
    view = arena->back();
  }
  if (!view.empty()) pre_tokenize(pre_tokenizer, Piece{view, true, false}, arena, out);
}

}  // namespace tokenizer_detail

// ---------- construction ----------

Tokenizer::Tokenizer() = default;
Tokenizer::Tokenizer(std::shared_ptr<const Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}

const Pipeline& Tokenizer::pipeline() const {
  if (!pipeline_) throw Error("tokenizer: empty (load, parse or train one first)");
  return *pipeline_;
}

namespace {

// Roles from the post-processor when it adds tokens, else from usual names.
void assign_roles(const Pipeline& p, int32_t* bos, int32_t* eos, int32_t* pad) {
  auto find_any = [&](std::initializer_list<const char*> names) -> int32_t {
    for (const char* n : names)
      for (const AddedToken& t : p.added.tokens())
        if (t.special && t.content == n && p.added.by_id(t.id) == &t) return t.id;
    return -1;
  };
  *bos = find_any({"<|begin_of_text|>", "<s>", "<|im_start|>", "<|endoftext|>"});
  *eos = find_any({"<|end_of_text|>", "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>"});
  *pad = find_any({"<|pad|>", "<pad>", "<|finetune_right_pad_id|>"});
  if (p.post.present) {
    *bos = p.post.before.size() == 1 ? p.post.before[0] : -1;
    if (p.post.after.size() == 1) *eos = p.post.after[0];
  }
}

std::vector<AddedToken> parse_added_tokens(const json& root) {
  std::vector<AddedToken> out;
  if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return out;
  const json& list = root["added_tokens"];
  if (!list.is_array()) tokenizer_detail::fail("added_tokens", "expected an array");
  for (size_t k = 0; k < list.size(); ++k) {
    std::string path = "added_tokens[" + std::to_string(k) + "]";
    const json& a = list[k];
    AddedToken t;
    t.content = tokenizer_detail::string_field(a, "content", path);
    tokenizer_detail::int_field(a, "id", path, 0, 10'000'000 - 1);  // checked; HF assigns ids itself
    t.special = tokenizer_detail::bool_field(a, "special", path, false);
    t.single_word = tokenizer_detail::bool_field(a, "single_word", path, false);
    t.lstrip = tokenizer_detail::bool_field(a, "lstrip", path, false);
    t.rstrip = tokenizer_detail::bool_field(a, "rstrip", path, false);
    t.normalized = tokenizer_detail::bool_field(a, "normalized", path, !t.special);
    out.push_back(std::move(t));
  }
  return out;
}

ojson keep(const json& root, const char* key) { return root.contains(key) ? ojson(root[key]) : ojson(nullptr); }

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) { return from_json(read_file_text(path), path); }

Tokenizer Tokenizer::from_json(const std::string& json_text, const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(origin + ": not valid JSON: " + e.what());
  }
  auto p = std::make_shared<Pipeline>();
  try {
    if (!root.is_object()) tokenizer_detail::fail("(root)", "expected a JSON object");
    if (root.contains("version") && root["version"] != "1.0")
      tokenizer_detail::fail("version",
                             "unknown tokenizer.json version " + root["version"].dump() + "; loom reads 1.0");
    for (const char* key : {"truncation", "padding"})
      if (root.contains(key) && !root[key].is_null())
        tokenizer_detail::fail(key, "is set; loom does not truncate or pad inside the tokenizer (set it to null)");
    p->normalizer_json = keep(root, "normalizer");
    p->pre_tokenizer_json = keep(root, "pre_tokenizer");
    p->post_processor_json = keep(root, "post_processor");
    p->decoder_json = keep(root, "decoder");
    p->normalizer = tokenizer_detail::parse_normalizer(root.value("normalizer", json()), "normalizer");
    p->pre_tokenizer = tokenizer_detail::parse_pre_tokenizer(root.value("pre_tokenizer", json()), "pre_tokenizer");
    p->decoder = tokenizer_detail::parse_decoder(root.value("decoder", json()), "decoder");
    p->post = tokenizer_detail::parse_post_processor(root.value("post_processor", json()), "post_processor");
    const json& model = tokenizer_detail::field(root, "model", "(root)");
    p->model.emplace(tokenizer_detail::parse_bpe_model(model, "model"));
    p->dropout_json = model.contains("dropout") ? ojson(model["dropout"]) : ojson(nullptr);
    p->added.add(parse_added_tokens(root), *p->model, p->normalizer.get());
    p->finish();
    for (int32_t id : p->post.before)
      if (id >= static_cast<int32_t>(p->tokens.size()))
        tokenizer_detail::fail("post_processor", "adds id " + std::to_string(id) + ", outside the vocabulary");
    for (int32_t id : p->post.after)
      if (id >= static_cast<int32_t>(p->tokens.size()))
        tokenizer_detail::fail("post_processor", "adds id " + std::to_string(id) + ", outside the vocabulary");
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  } catch (const json::exception& e) {
    throw Error(origin + ": " + e.what());
  }
  Tokenizer tok(p);
  assign_roles(*p, &tok.bos_id_, &tok.eos_id_, &tok.pad_id_);
  return tok;
}

Tokenizer Tokenizer::train(const std::vector<std::string>& texts, const TokenizerTrainOptions& options) {
  size_t num_special = options.special_tokens.size();
  if (options.vocab_size < 256 + static_cast<int>(num_special))
    throw Error("tokenizer: vocab_size must be at least 256 + the number of special tokens");
  auto p = std::make_shared<Pipeline>();
  p->normalizer_json = nullptr;
  p->pre_tokenizer_json = tokenizer_detail::trained_pre_tokenizer_json(options.pre_tokenizer);
  p->post_processor_json = tokenizer_detail::byte_level_json();
  p->decoder_json = tokenizer_detail::byte_level_json();
  p->dropout_json = nullptr;
  p->pre_tokenizer = tokenizer_detail::parse_pre_tokenizer(json::parse(p->pre_tokenizer_json.dump()), "pre_tokenizer");
  p->decoder = tokenizer_detail::parse_decoder(json::parse(p->decoder_json.dump()), "decoder");

  std::unordered_map<std::string, int64_t> word_counts;
  Arena arena;
  std::vector<Piece> pieces;
  for (const auto& text : texts) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t valid = tokenizer_detail::valid_utf8_prefix(text, pos);
      if (valid == 0) {
        ++word_counts[text.substr(pos++, 1)];
        continue;
      }
      p->words(std::string_view(text).substr(pos, valid), &arena, &pieces);
      for (const Piece& w : pieces) ++word_counts[std::string(w.text)];
      pos += valid;
      arena.clear();
    }
  }
  // Sorted so that training is deterministic regardless of hash order.
  std::vector<std::pair<std::string, int64_t>> sorted_words(word_counts.begin(), word_counts.end());
  std::sort(sorted_words.begin(), sorted_words.end());
  auto trained = tokenizer_detail::train_bpe(sorted_words, options.vocab_size - 256 - static_cast<int>(num_special),
                                             options.min_frequency);

  std::vector<AddedToken> specials;
  for (const auto& content : options.special_tokens) {
    trained.tokens.push_back(content);
    AddedToken t;
    t.content = content;
    t.special = true;
    specials.push_back(std::move(t));
  }
  p->model.emplace(std::move(trained.tokens), trained.merges, tokenizer_detail::BpeOptions{}, "model");
  p->added.add(std::move(specials), *p->model, nullptr);
  p->finish();
  Tokenizer tok(p);
  assign_roles(*p, &tok.bos_id_, &tok.eos_id_, &tok.pad_id_);
  return tok;
}

// ---------- tokenizer.json ----------

std::string Tokenizer::to_json() const {
  const Pipeline& p = pipeline();
  ojson added = ojson::array();
  for (size_t id = 0; id < p.tokens.size(); ++id) {
    const AddedToken* t = p.added.by_id(static_cast<int32_t>(id));
    if (!t) continue;
    added.push_back({{"id", id},
                     {"content", t->content},
                     {"single_word", t->single_word},
                     {"lstrip", t->lstrip},
                     {"rstrip", t->rstrip},
                     {"normalized", t->normalized},
                     {"special", t->special}});
  }
  const auto& model = *p.model;
  const auto& opt = model.options();
  auto optional = [](const std::optional<std::string>& s) { return s ? ojson(*s) : ojson(nullptr); };
  ojson vocab = ojson::object();
  const auto& tokens = model.tokens();
  for (size_t id = 0; id < tokens.size(); ++id)
    if (!tokens[id].empty()) vocab[tokens[id]] = id;
  bool has_space = false;
  for (auto [l, r] : model.merges())
    has_space |= tokens[l].find(' ') != std::string::npos || tokens[r].find(' ') != std::string::npos;
  ojson merges = ojson::array();
  for (auto [l, r] : model.merges())
    merges.push_back(has_space ? ojson::array({tokens[l], tokens[r]}) : ojson(tokens[l] + " " + tokens[r]));
  ojson root = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", p.normalizer_json},
      {"pre_tokenizer", p.pre_tokenizer_json},
      {"post_processor", p.post_processor_json},
      {"decoder", p.decoder_json},
      {"model",
       {{"type", "BPE"},
        {"dropout", p.dropout_json},
        {"unk_token", optional(opt.unk_token)},
        {"continuing_subword_prefix", optional(opt.continuing_subword_prefix)},
        {"end_of_word_suffix", optional(opt.end_of_word_suffix)},
        {"fuse_unk", opt.fuse_unk},
        {"byte_fallback", opt.byte_fallback},
        {"ignore_merges", opt.ignore_merges},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  return root.dump(2);
}

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, to_json()); }

// ---------- encode / decode ----------

void Tokenizer::encode_ordinary(const std::string& text, std::vector<int32_t>* out) const {
  const Pipeline& p = pipeline();
  const auto& model = *p.model;
  thread_local Arena arena;
  thread_local std::vector<Segment> raw_segments, norm_segments;
  thread_local std::vector<Piece> pieces;
  arena.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t valid = tokenizer_detail::valid_utf8_prefix(text, pos);
    if (valid == 0) {  // a byte that is not UTF-8: straight to the model
      model.tokenize_raw_byte(static_cast<unsigned char>(text[pos]), p.byte_level, out);
      ++pos;
      continue;
    }
    std::string_view run = std::string_view(text).substr(pos, valid);
    bool run_at_start = pos == 0;
    pos += valid;
    p.added.split(run, false, &raw_segments);
    for (const Segment& seg : raw_segments) {
      if (seg.id >= 0) {
        out->push_back(seg.id);
        continue;
      }
      std::string_view view = run.substr(seg.begin, seg.end - seg.begin);
      bool seg_at_start = run_at_start && seg.begin == 0;
      if (p.normalizer) {
        arena.emplace_back(view);
        p.normalizer->apply(&arena.back());
        view = arena.back();
      }
      p.added.split(view, true, &norm_segments);
      for (const Segment& s : norm_segments) {
        if (s.id >= 0) {
          out->push_back(s.id);
          continue;
        }
        Piece piece{view.substr(s.begin, s.end - s.begin), seg_at_start && s.begin == 0, false};
        tokenizer_detail::pre_tokenize(p.pre_tokenizer, piece, &arena, &pieces);
        for (const Piece& w : pieces) model.tokenize(w.text, w.byte_level, p.cache_id, out);
      }
    }
  }
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_bos, bool add_eos) const {
  std::vector<int32_t> ids;
  if (add_bos) {
    if (bos_id_ < 0) throw Error("tokenizer: add_bos requested but the tokenizer has no BOS token");
    ids.push_back(bos_id_);
  }
  encode_ordinary(text, &ids);
  if (add_eos) {
    if (eos_id_ < 0) throw Error("tokenizer: add_eos requested but the tokenizer has no EOS token");
    ids.push_back(eos_id_);
  }
  return ids;
}

std::vector<int32_t> Tokenizer::encode_templated(const std::string& text) const {
  const Pipeline& p = pipeline();
  std::vector<int32_t> ids = p.post.before;
  encode_ordinary(text, &ids);
  ids.insert(ids.end(), p.post.after.begin(), p.post.after.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const Pipeline& p = pipeline();
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) throw Error("tokenizer: cannot decode id " + std::to_string(id));
    if (p.decoded[id].empty()) continue;  // a hole in the vocabulary, skipped as HF does
    if (skip_special && p.special[id]) continue;
    tokens.push_back(p.decoded[id]);
  }
  if (!p.decoder) {
    std::string out;
    for (size_t k = 0; k < tokens.size(); ++k) out += (k ? " " : "") + tokens[k];
    return out;
  }
  p.decoder->decode_chain(&tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::vector<std::string> Tokenizer::pre_tokenize(const std::string& text) const {
  const Pipeline& p = pipeline();
  Arena arena;
  std::vector<Piece> pieces;
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t valid = tokenizer_detail::valid_utf8_prefix(text, pos);
    if (valid == 0) {
      words.push_back(text.substr(pos++, 1));
      continue;
    }
    p.words(std::string_view(text).substr(pos, valid), &arena, &pieces);
    for (const Piece& w : pieces) words.emplace_back(w.text);
    pos += valid;
  }
  return words;
}

// ---------- vocabulary and roles ----------

int Tokenizer::vocab_size() const { return pipeline_ ? static_cast<int>(pipeline_->tokens.size()) : 0; }
size_t Tokenizer::num_merges() const { return pipeline_ ? pipeline_->model->merges().size() : 0; }

std::optional<int32_t> Tokenizer::token_to_id(const std::string& token) const {
  const Pipeline& p = pipeline();
  for (const AddedToken& t : p.added.tokens())
    if (t.content == token && p.added.by_id(t.id) == &t) return t.id;
  if (const int32_t* id = p.model->find(token)) return *id;
  return std::nullopt;
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw Error("tokenizer: id " + std::to_string(id) + " out of range");
  return pipeline_->tokens[id];
}

void Tokenizer::set_special_ids(int32_t bos, int32_t eos, int32_t pad) {
  auto check = [&](int32_t id, const char* role) {
    if (id >= vocab_size())
      throw Error(std::string("tokenizer: ") + role + " id " + std::to_string(id) + " is outside the vocabulary of " +
                  std::to_string(vocab_size()));
  };
  check(bos, "bos");
  check(eos, "eos");
  check(pad, "pad");
  bos_id_ = bos;
  eos_id_ = eos;
  pad_id_ = pad;
}

}  // namespace loom
