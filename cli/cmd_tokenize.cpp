// loom tokenize: encodes the "text" of each JSONL row with a tokenizer.json
// and writes {"input_ids": [...]} rows (what `loom eval` and the interop
// tests read), optionally with the ids decoded back.
#include <iostream>

#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/jsonl.h"
#include "loom/core/tokenizer.h"

namespace loom::cli {

void setup_tokenize(CLI::App* sub) {
  struct Args {
    std::string tokenizer, input, output, field = "text";
    bool template_tokens = false, decode = false, skip_special = false;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--tokenizer", a->tokenizer, "tokenizer.json (Hugging Face format)")->required();
  sub->add_option("--input", a->input, "JSONL rows with a text field")->required();
  sub->add_option("--output", a->output, "JSONL of {\"input_ids\": [...]}; default: standard output");
  sub->add_option("--field", a->field, "the rows' text field")->capture_default_str();
  sub->add_flag("--template", a->template_tokens,
                "add the special tokens of the file's post-processor (HF add_special_tokens=True)");
  sub->add_flag("--decode", a->decode, "also write \"decoded\": the ids decoded back");
  sub->add_flag("--skip-special", a->skip_special, "leave special tokens out of \"decoded\"");
  sub->callback([a] {
    Tokenizer tok = Tokenizer::load(a->tokenizer);
    std::string out;
    for_each_jsonl(a->input, [&](const nlohmann::json& row, size_t line) {
      std::string text = jsonl_string_field(row, a->field, a->input, line);
      std::vector<int32_t> ids = a->template_tokens ? tok.encode_templated(text) : tok.encode(text);
      nlohmann::json j = {{"input_ids", ids}};
      if (a->decode) j["decoded"] = tok.decode(ids, a->skip_special);
      // Decoded byte-level text may end mid-character; JSON holds valid UTF-8
      // only, so such bytes are written as U+FFFD.
      out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    });
    if (a->output.empty())
      std::cout << out;
    else
      write_file_atomic(a->output, out);
  });
}

}  // namespace loom::cli
