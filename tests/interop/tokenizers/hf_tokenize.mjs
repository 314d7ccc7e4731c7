// Hugging Face tokenizers (the Rust library, through its Node binding) on a
// JSONL corpus: one output row per input row, in the shape `loom tokenize`
// writes. Usage: node hf_tokenize.mjs TOKENIZER_JSON CORPUS_JSONL OUT_JSONL [--template] [--skip-special]
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { Tokenizer } = require("tokenizers");

const [tokenizerPath, corpusPath, outPath, ...flags] = process.argv.slice(2);
const template = flags.includes("--template");
const skipSpecial = flags.includes("--skip-special");
const tok = Tokenizer.fromFile(tokenizerPath);
const rows = readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
const out = [];
for (const row of rows) {
  const enc = await tok.encode(row.text, null, { addSpecialTokens: template });
  const ids = Array.from(enc.getIds());
  const decoded = await tok.decode(ids, skipSpecial);
  out.push(JSON.stringify({ input_ids: ids, decoded }));
}
writeFileSync(outPath, out.join("\n") + "\n");
