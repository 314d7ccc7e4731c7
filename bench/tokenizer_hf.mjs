// Encode throughput of Hugging Face tokenizers (Rust, through its Node
// binding) on a JSONL corpus: texts read first, then encodeBatch timed (no
// special tokens). Threads come from RAYON_NUM_THREADS (set by
// bench/tokenizer_bench.sh). Prints one JSON line per repeat.
// Usage: node bench/tokenizer_hf.mjs TOKENIZER_JSON CORPUS_JSONL NAME THREADS REPEATS
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "tests", "interop", "tokenizers", "package.json"));
const { Tokenizer } = require("tokenizers");
const [tokenizerPath, corpus, name, threads, repeats] = process.argv.slice(2);
const texts = readFileSync(corpus, "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l).text);
let bytes = 0;
for (const t of texts) bytes += Buffer.byteLength(t, "utf8");
const tok = Tokenizer.fromFile(tokenizerPath);
for (let r = 0; r < Number(repeats); ++r) {
  const t0 = process.hrtime.bigint();
  const encodings = await tok.encodeBatch(texts, { addSpecialTokens: false });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let tokens = 0, idSum = 0;
  for (const e of encodings) for (const id of e.getIds()) ++tokens, (idSum += id);
  console.log(JSON.stringify({ side: "hf", tokenizer: name, threads: Number(threads), seconds, bytes, tokens, id_sum: idSum, mb_per_s: bytes / seconds / 1e6 }));
}
