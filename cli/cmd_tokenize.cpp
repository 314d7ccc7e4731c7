// loom tokenize: encodes the "text" of each JSONL row with a tokenizer.json
// and writes {"input_ids": [...]} rows (what `loom eval` and the interop
// tests read), optionally with the ids decoded back.
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/core/tokenizer.h"

namespace loom::cli {

namespace {

struct TokenizeOptions {
  std::string tokenizer, input, output, field = "text";
  bool template_tokens = false, decode = false, skip_special = false;
};

const ParamSchema<TokenizeOptions>& tokenize_schema() {
  using O = TokenizeOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("tokenizer", &O::tokenizer, "tokenizer.json (Hugging Face format)")
        .add("input", &O::input, "JSONL rows with a text field")
        .add("output", &O::output, "JSONL of {\"input_ids\": [...]}; empty = standard output")
        .add("field", &O::field, "the rows' text field")
        .add("template", &O::template_tokens,
             "add the special tokens of the file's post-processor (HF add_special_tokens=True)")
        .add("decode", &O::decode, "also write \"decoded\": the ids decoded back")
        .add("skip_special", &O::skip_special, "leave special tokens out of \"decoded\"");
    return s;
  }();
  return schema;
}

}  // namespace

void setup_tokenize(CLI::App* sub) {
  run_with_options<TokenizeOptions>(sub, tokenize_schema(), [](const TokenizeOptions& o) {
    if (o.tokenizer.empty()) throw Error("--tokenizer is required");
    if (o.input.empty()) throw Error("--input is required");
    Tokenizer tok = Tokenizer::load(o.tokenizer);
    std::string out;
    for_each_jsonl(o.input, [&](const nlohmann::json& row, size_t line) {
      std::string text = jsonl_string_field(row, o.field, o.input, line);
      std::vector<int32_t> ids = o.template_tokens ? tok.encode_templated(text) : tok.encode(text);
      nlohmann::json j = {{"input_ids", ids}};
      if (o.decode) j["decoded"] = tok.decode(ids, o.skip_special);
      // Decoded byte-level text may end mid-character; JSON holds valid UTF-8
      // only, so such bytes are written as U+FFFD.
      out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    });
    if (o.output.empty())
      std::cout << out;
    else
      write_file_atomic(o.output, out);
  });
}

}  // namespace loom::cli
