// The tokenizer interop test: every tokenizer.json in the list is run over
// the corpus by Hugging Face tokenizers (hf_tokenize.mjs) and by `loom
// tokenize`; token ids and decoded text must be identical, with and without
// the post-processor's special tokens.
// Usage: node run_interop.mjs LOOM_BINARY WORK_DIR
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [loom, work] = process.argv.slice(2);
mkdirSync(work, { recursive: true });
const corpus = join(here, "corpus.jsonl");
const texts = readFileSync(corpus, "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
const modules = join(here, "node_modules");
if (!existsSync(join(modules, "tokenizers", "package.json"))) {
  console.log(`FAIL: ${modules} has no Hugging Face tokenizers: run scripts/setup-deps.sh`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const real = ["llama3", "qwen3", "llama2", "gemma3", "deepseek_v3", "gpt4o", "gpt35turbo", "claude"];

const cases = [];
for (const name of real) cases.push({ name, path: join(modules, "@lenml", `tokenizer-${name}`, "models", "tokenizer.json") });

// loom-trained tokenizers (GPT-2 and Llama 3 pre-tokenizers), trained on the
// corpus itself by `loom tokenize`'s companion, the unit-test fixture files.
for (const f of ["loom_gpt2.json", "loom_llama3.json"]) cases.push({ name: f, path: join(here, "fixtures", f) });

// Files derived from the real ones to reach components no shipped file uses:
// Metaspace (Mistral's form), normalizers, Digits/Punctuation/Whitespace.
function derive(base, name, edit) {
  const j = JSON.parse(readFileSync(base, "utf8"));
  edit(j);
  const p = join(work, `${name}.json`);
  writeFileSync(p, JSON.stringify(j));
  cases.push({ name, path: p, derived: true });
}
const llama2 = join(modules, "@lenml", "tokenizer-llama2", "models", "tokenizer.json");
derive(llama2, "mistral-metaspace-first", (j) => {
  j.normalizer = null;
  j.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
  j.decoder = { type: "Sequence", decoders: [{ type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false }, { type: "ByteFallback" }, { type: "Fuse" }] };
});
derive(llama2, "metaspace-always-split", (j) => {
  j.normalizer = { type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Replace", pattern: { Regex: "\\s{2,}" }, content: " " }] };
  j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true }] };
  j.decoder = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true };
  j.model.fuse_unk = false;
});
const own = join(here, "fixtures", "loom_gpt2.json");
derive(own, "loom-normalizers", (j) => {
  j.normalizer = { type: "Sequence", normalizers: [{ type: "NFD" }, { type: "StripAccents" }, { type: "Lowercase" }, { type: "Prepend", prepend: "^" }, { type: "Strip", strip_left: false, strip_right: true }] };
  j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "Punctuation", behavior: "Contiguous" }, { type: "Digits", individual_digits: false }, { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true }] };
  j.post_processor = { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|end_of_text|>", type_id: 0 } }], pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }], special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [j.added_tokens[0].id], tokens: ["<|begin_of_text|>"] }, "<|end_of_text|>": { id: "<|end_of_text|>", ids: [j.added_tokens[1].id], tokens: ["<|end_of_text|>"] } } };
});
derive(own, "loom-whitespace-splits", (j) => {
  j.normalizer = { type: "NFKC" };
  j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "Whitespace" }, { type: "Split", pattern: { String: "e" }, behavior: "MergedWithNext", invert: false }, { type: "Split", pattern: { Regex: "(?<=[aeiou])(?=[^aeiou])" }, behavior: "Removed", invert: false }, { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false }] };
  j.added_tokens.push({ id: 0, content: "qu", single_word: true, lstrip: false, rstrip: false, normalized: true, special: false });
  j.added_tokens.push({ id: 0, content: "the", single_word: false, lstrip: true, rstrip: true, normalized: false, special: false });
});
derive(own, "loom-wordsplit-contiguous", (j) => {
  j.normalizer = { type: "Sequence", normalizers: [{ type: "NFC" }, { type: "Replace", pattern: { String: "\t" }, content: "    " }] };
  j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "WhitespaceSplit" }, { type: "Split", pattern: { Regex: "\\p{N}+" }, behavior: "Contiguous", invert: true }, { type: "Split", pattern: { Regex: "[.,!?]" }, behavior: "MergedWithPrevious", invert: false }, { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false }] };
});

let failed = 0, passed = 0;
const report = [];
for (const c of cases) {
  if (!existsSync(c.path)) {
    console.log(`FAIL ${c.name}: ${c.path} is missing (run scripts/setup-deps.sh)`);
    ++failed;
    continue;
  }
  let caseFailed = false;
  for (const mode of [[], ["--template", "--skip-special"]]) {
    const tag = mode.length ? "template" : "plain";
    const hfOut = join(work, `${c.name}.${tag}.hf.jsonl`), loomOut = join(work, `${c.name}.${tag}.loom.jsonl`);
    const t0 = Date.now();
    execFileSync("node", [join(here, "hf_tokenize.mjs"), c.path, corpus, hfOut, ...mode], { stdio: "inherit" });
    const t1 = Date.now();
    const loomFlags = mode.includes("--template") ? ["--template", "--decode", "--skip-special"] : ["--decode"];
    execFileSync(loom, ["tokenize", "--tokenizer", c.path, "--input", corpus, "--output", loomOut, ...loomFlags], { stdio: "inherit" });
    const t2 = Date.now();
    const hf = readFileSync(hfOut, "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
    const lm = readFileSync(loomOut, "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
    let bad = 0;
    for (let i = 0; i < texts.length; ++i) {
      const a = hf[i], b = lm[i];
      const sameIds = b && JSON.stringify(a.input_ids) === JSON.stringify(b.input_ids);
      const sameText = b && a.decoded === b.decoded;
      if (sameIds && sameText) continue;
      if (++bad <= 3) {
        let k = 0;
        while (b && k < a.input_ids.length && a.input_ids[k] === b.input_ids[k]) ++k;
        console.log(`  ${c.name} ${tag} row ${i} (${texts[i].kind}) ${sameIds ? "decoded text differs" : `ids differ at ${k}`}: ` +
          `text ${JSON.stringify(texts[i].text.slice(0, 80))}\n    hf   ${JSON.stringify(a.input_ids.slice(k, k + 8))} ${JSON.stringify(a.decoded.slice(0, 80))}\n` +
          `    loom ${JSON.stringify(b ? b.input_ids.slice(k, k + 8) : null)} ${JSON.stringify(b ? b.decoded.slice(0, 80) : null)}`);
      }
    }
    const tokens = hf.reduce((n, r) => n + r.input_ids.length, 0);
    report.push(`${c.name} ${tag}: ${texts.length - bad}/${texts.length} rows identical, ${tokens} tokens (hf ${t1 - t0} ms, loom ${t2 - t1} ms)`);
    if (bad) caseFailed = true;
  }
  if (caseFailed) {
    ++failed;
    console.log(`FAIL ${c.name}`);
  } else {
    ++passed;
    console.log(`ok   ${c.name}${c.derived ? " (derived)" : ""}`);
  }
}
console.log(report.join("\n"));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
