// Attacks on PEFT adapter directories from issue 17: ranks that are not
// integers or would ask for exabytes, nesting, and adapters whose tensors do
// not account for what attaching them would allocate.
#include <gtest/gtest.h>

#include "error_message.h"
#include "loom/adapters/lora.h"
#include "loom/core/atomic_file.h"
#include "loom/tensor/tensor_io.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A saved adapter (r = 4 on q_proj) whose adapter_config.json field `key` is then set to `value`.
std::string adapter_with(const std::string& name, const std::string& key, const nlohmann::json& value) {
  const std::string dir = fresh_temp_dir("untrusted_adapter_" + name);
  LlamaForCausalLM m(tiny_config());
  LoraConfig c;
  c.r = 4;
  c.target_modules = {"q_proj"};
  attach_lora(*m, c, 1);
  save_peft_adapter(dir, *m);
  auto j = nlohmann::json::parse(read_file_text(dir + "/adapter_config.json"));
  j[key] = value;
  write_file_atomic(dir + "/adapter_config.json", j.dump());
  return dir;
}

}  // namespace

TEST(UntrustedAdapter, RanksMustBeIntegersInRangeAndErrorsNameTheFile) {
  struct Case {
    const char* name;
    nlohmann::json r;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"fraction", 4.7, "adapter_config.json: field 'r' must be an integer in [1, 65536], got 4.7"},
      {"huge", uint64_t{1} << 62,
       "adapter_config.json: field 'r' must be an integer in [1, 65536], got 4611686018427387904"},
      {"negative", -3, "adapter_config.json: r must lie in [1, 65536], got -3"},
      {"text", "8", "adapter_config.json: field 'r' must be an integer"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string dir = adapter_with(c.name, "r", c.r);
    const std::string e = error_of([&] { load_peft_adapter(dir); });
    EXPECT_TRUE(contains(e, dir + "/" + c.expected)) << e;
  }
  const std::string dir = adapter_with("alpha", "lora_alpha", "sixteen");
  EXPECT_TRUE(contains(error_of([&] { load_peft_adapter(dir); }), "field 'lora_alpha' must be a number"));
}

TEST(UntrustedAdapter, TensorsMustCoverEveryTargetedLayerBeforeAnythingIsAllocated) {
  // r = 65536 on every linear layer would allocate r x (in + out) values per
  // layer; the file holds none of them, so nothing is attached at all.
  const std::string dir = adapter_with("uncovered", "r", 65536);
  auto j = nlohmann::json::parse(read_file_text(dir + "/adapter_config.json"));
  j["target_modules"] = "all-linear";
  write_file_atomic(dir + "/adapter_config.json", j.dump());
  save_tensors(dir + "/adapter_model.safetensors", {});
  LlamaForCausalLM m(tiny_config());
  const std::string e = error_of([&] { apply_peft_adapter(*m, load_peft_adapter(dir)); });
  EXPECT_TRUE(
      contains(e, dir + ": adapter has no tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'"))
      << e;
  EXPECT_FALSE(has_lora(*m));
}

TEST(UntrustedAdapter, DeeplyNestedConfigIsRefused) {
  const std::string dir = adapter_with("deep", "rank_pattern", nlohmann::json::object());
  write_file_atomic(dir + "/adapter_config.json",
                    "{\"r\": 4, \"rank_pattern\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  const std::string e = error_of([&] { load_peft_adapter(dir); });
  EXPECT_TRUE(contains(e, "adapter_config.json: JSON nested deeper than 64 levels")) << e;
}
