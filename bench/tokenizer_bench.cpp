// Encode throughput of loom's tokenizer on a JSONL corpus: the texts are
// read first, then timed while encoded (no special tokens), split over
// --threads threads. Prints one JSON line per repeat, in the shape
// bench/tokenizer_hf.mjs prints for Hugging Face tokenizers.
// --train-vocab V first trains a GPT-2-style tokenizer on the corpus (as the
// quickstart does) and saves it to --tokenizer.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/core/tokenizer.h"

int main(int argc, char** argv) {
  std::string tokenizer_path, corpus, name;
  int threads = 1, repeats = 3, train_vocab = 0;
  CLI::App app{"loom tokenizer encode throughput"};
  app.add_option("--tokenizer", tokenizer_path, "tokenizer.json")->required();
  app.add_option("--corpus", corpus, "JSONL with a \"text\" field")->required();
  app.add_option("--name", name, "label for the output");
  app.add_option("--threads", threads, "encoding threads")->capture_default_str();
  app.add_option("--repeats", repeats, "timed passes")->capture_default_str();
  app.add_option("--train-vocab", train_vocab, "train a tokenizer of this size on the corpus first");
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<std::string> texts;
    size_t bytes = 0;
    loom::for_each_jsonl(corpus, [&](const nlohmann::json& row, size_t line) {
      texts.push_back(loom::jsonl_string_field(row, "text", corpus, line));
      bytes += texts.back().size();
    });
    if (train_vocab > 0) {
      loom::TokenizerTrainOptions opts;
      opts.vocab_size = train_vocab;
      loom::Tokenizer::train(texts, opts).save(tokenizer_path);
    }
    loom::Tokenizer tok = loom::Tokenizer::load(tokenizer_path);
    // Contiguous chunks of about equal bytes, one per thread.
    std::vector<size_t> bounds = {0};
    size_t acc = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      acc += texts[i].size();
      if (acc * threads >= bytes * bounds.size() && bounds.size() < static_cast<size_t>(threads))
        bounds.push_back(i + 1);
    }
    while (bounds.size() <= static_cast<size_t>(threads)) bounds.push_back(texts.size());
    for (int r = 0; r < repeats; ++r) {
      std::vector<int64_t> tokens(threads, 0), id_sum(threads, 0);
      auto t0 = std::chrono::steady_clock::now();
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          int64_t n = 0, sum = 0;  // local: no shared cache lines while timing
          for (size_t i = bounds[t]; i < bounds[t + 1]; ++i) {
            auto ids = tok.encode(texts[i]);
            n += static_cast<int64_t>(ids.size());
            for (int32_t id : ids) sum += id;
          }
          tokens[t] = n;
          id_sum[t] = sum;
        });
      for (auto& th : pool) th.join();
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      int64_t n = 0, s = 0;
      for (int t = 0; t < threads; ++t) n += tokens[t], s += id_sum[t];
      nlohmann::json j = {{"side", "loom"},     {"tokenizer", name.empty() ? tokenizer_path : name},
                          {"threads", threads}, {"seconds", seconds},
                          {"bytes", bytes},     {"tokens", n},
                          {"id_sum", s},        {"mb_per_s", bytes / seconds / 1e6}};
      std::cout << j.dump() << std::endl;
    }
  } catch (const loom::Error& e) {
    std::cerr << "bench_tokenizer: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
