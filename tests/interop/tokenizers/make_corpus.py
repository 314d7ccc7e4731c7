#!/usr/bin/python3
"""Writes corpus.jsonl: the texts the tokenizer interop test encodes with
Hugging Face tokenizers and with loom. Deterministic (fixed seed); rerun after
editing and commit both files. Each row: {"kind": ..., "text": ...}.

The corpus is meant to be hard: code, numbers, whitespace runs, CJK, RTL,
Indic scripts, emoji sequences, combining marks, control characters, strings
that look like special tokens, characters that Unicode normalisation changes,
long runs, and random mixtures of all of these. Only characters assigned
since Unicode 1.1-13 are used where a class matters, so that the Unicode
version of each side's regex engine (Oniguruma) does not decide the result.
"""
import json
import random
import os

rows = []


def add(kind, *texts):
    for t in texts:
        rows.append({"kind": kind, "text": t})


add("prose",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll see it's what we'd've done. They're here; we've gone.",
    "I'M SURE YOU'LL SEE IT'S WHAT WE'D DONE. THEY'RE HERE; WE'VE GONE.",
    "don't DON'T Don'T dOn't 'tis 's 'S 're 'RE 'll 'Ll 'd 'D 'm 'M 've 'vE",
    "rock'n'roll o'clock y'all ma'am 'quoted' \"double\" `back`",
    "Mr. O'Neil's dog's bone—isn't it—was 'lost'… again!",
    "  leading spaces and trailing spaces   ",
    "\tTabbed\tcolumns\tand\ttrailing\t",
    "one\ntwo\n\nthree\n\n\nfour\r\nfive\rsix",
    "A sentence with a URL https://example.org/path?q=1&r=two#frag and an e-mail someone@example.com.",
    "Price: $1,234.56 (≈ €1.130,00) — or 12% off; 3/4 cup; 98.6°F; 6'2\"",
    "Hyphenated-words, under_scores, CamelCaseWords, snake_case_names and kebab-case-things.",
    "END OF TEXT <|endoftext|> after the marker",
    "Q: Why?\nA: Because.\n\n-- fortune(6)",
)

add("debian",
    "loom (0.1.0-1) unstable; urgency=medium\n\n  * Initial release. (Closes: #1000001)\n  * Build-depend on libonig-dev, libutf8proc-dev.\n\n -- Jane Doe <jane@example.org>  Mon, 01 Jan 2024 12:00:00 +0100\n",
    "tzdata (2024a-0+deb12u1) bookworm; urgency=medium\n\n  * New upstream release: Kazakhstan unifies on UTC+5.\n  * Palestine springs forward a week later than previously predicted.\n",
    "  [ Ángel Álvarez ]\n  * debian/control: bump Standards-Version to 4.6.2 (no changes needed).\n  * debian/patches/0001-fix-FTBFS-with-GCC-13.patch: new.\n",
    "Package: libonig5\nVersion: 6.9.8-1\nDepends: libc6 (>= 2.14)\nDescription: regular expressions library\n",
    "deb http://deb.debian.org/debian bookworm main contrib non-free-firmware",
)

add("code",
    "#include <vector>\nint main(int argc, char** argv) {\n    std::vector<int> v{1, 2, 3};\n    for (auto& x : v) x *= 2;\n    return v.size() > 2 ? 0 : 1;\n}\n",
    "def f(x: int = 0) -> list[str]:\n    \"\"\"Docstring.\"\"\"\n    return [str(i) for i in range(x) if i % 2 == 0]\n\n\nclass A(object):\n\tpass\n",
    "const re = /(?<year>\\d{4})-(?<month>\\d{2})/u;\nconsole.log(`${a}+${b}=${a + b}`);\n",
    "fn main() { let s: &str = \"héllo\"; println!(\"{s:?} {}\", s.len()); }",
    "for f in *.json; do jq -r '.model.type' \"$f\" 2>/dev/null || echo \"bad: $f\"; done | sort | uniq -c",
    "{\"key\": [1, 2.5e-3, -7, null, true], \"nested\": {\"a\": \"\\u00e9\\n\"}}",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC LIMIT 10;",
    "<html><body><p class=\"x\">Hi &amp; bye&nbsp;&#x263A;</p><br/></body></html>",
    "model:\n  type: BPE\n  vocab_size: 4096  # comment\n  list:\n    - a\n    - b\n",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=6;c>>=7;d&=8;e|=9;f^=10;g&&h||!i;j!=k;l==m;n<=o;p>=q;->::...",
    "    \n        indented\n            more\n\t\t\ttabs\n",
    "0x1F 0b1010 0o777 1e10 3.14159 -0.0 +1 1_000_000 0xDEADBEEF",
)

add("numbers",
    "1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890",
    "3.14159265358979323846264338327950288419716939937510",
    "Call +1 (555) 010-9999 or 555.010.9999 ext. 42",
    "2024-01-01T12:34:56.789Z 12:00 1/2/2003 31.12.1999",
    "٠١٢٣٤٥٦٧٨٩ ۰۱۲۳۴۵۶۷۸۹ ०१२३४५६७८९ ０１２３４５６７８９",
    "x² + y³ = z¹⁰; H₂O; ½ ¼ ¾ ⅓ ⅔; Ⅰ Ⅱ Ⅲ Ⅻ ⅿ; ① ② ⑩ ⑳",
    "1,000,000 10.000,50 1'000'000 1 000 000",
)

add("whitespace",
    " ", "  ", "\n", "\n\n", "\t", " \n ", "\r\n\r\n", "   \n\n   x", "x   ", "x\n   \n",
    "a\u00a0b\u2009c\u3000d\u202fe\u2003f",
    "word \u00a0 word\u3000\u3000word",
    "\u000b\u000c\u001c\u001d\u001e\u001f\u0085\u2028\u2029",
    "spaces" + " " * 17 + "then" + "\t" * 5 + "tabs",
)

add("cjk",
    "你好，世界！这是一个测试。",
    "我们在二〇二四年三月十五日去了北京，天气很好。",
    "中華民國憲法第一條：中華民國基於三民主義，為民有、民治、民享之民主共和國。",
    "東京都渋谷区でラーメンを食べました。とても美味しかったです！",
    "カタカナとひらがなと漢字が混ざった文章、そして半角ｶﾀｶﾅも。",
    "「こんにちは」と彼は言った。『そうですね』",
    "안녕하세요, 세계! 한국어 문장입니다. 1234원",
    "ᄒᆞᆫ글 자모: ᄀ ᄁ ᄂ ᆨ ᆩ ᆪ (conjoining jamo)",
    "ＡＢＣ　ａｂｃ　１２３　！？（）",
    "简体中文与繁體中文混合：学习學習，国际國際。",
    "㊗️ ㊙️ 〄 〆 〇 〒 〓 ㍿ ㋿",
)

add("rtl",
    "مرحبا بالعالم! هذا اختبار.",
    "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ",
    "שָׁלוֹם עוֹלָם! זה מבחן.",
    "העברית נכתבת מימין לשמאל, ו-English from left to right, עם 123 מספרים.",
    "فارسی: سلام دنیا، این یک آزمایش است. ۱۲۳",
    "اردو: یہ ایک امتحان ہے۔",
    "\u200fRLM text\u200e LRM text \u202eoverride\u202c end \u2067isolate\u2069",
    "العربية 2024 مع English و123",
)

add("indic_sea",
    "नमस्ते दुनिया! यह एक परीक्षण है।",
    "हिन्दी में संयुक्ताक्षर: क्ष त्र ज्ञ श्र द्ध",
    "தமிழ் ஒரு செம்மொழி ஆகும்.",
    "বাংলা ভাষা খুব সুন্দর।",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ ครับ",
    "ພາສາລາວ ແລະ ខ្មែរ ក្រុងភ្នំពេញ",
    "Tiếng Việt có rất nhiều dấu: Nguyễn, Đặng, Phạm, Trường.",
    "ქართული ენა და Հայերեն լեզու",
    "Ελληνικά: Καλημέρα κόσμε; Τι κάνεις;",
    "Русский текст: съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ўзбек, Қазақ, Монгол: Ү ү Ө ө Ң ң",
)

add("emoji",
    "I ❤️ tokenizers 😀😃😄😁😆",
    "👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿",
    "👨‍👩‍👧‍👦 👩‍❤️‍💋‍👨 🧑‍💻 🏳️‍🌈 🏴‍☠️",
    "🇫🇷 🇯🇵 🇺🇸 🇩🇪 🇧🇷🇮🇳",
    "1️⃣ 2️⃣ #️⃣ *️⃣ ©️ ®️ ™️",
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f England",
    "emoji in text🙂without spaces🙃and🙂more",
    "☺︎ ☺️ ♀︎ ♂️ ✔︎ ✔️",
)

add("combining",
    "e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 (decomposed accents)",
    "\u0301starts with a combining mark",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
    "Å (U+212B) Å (U+00C5) Å (A+ring) Ω (U+2126) K (U+212A)",
    "ﬁnance ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ",
    "㎏ ㎞ ㏄ ℃ ℉ № ℡ ™ ℌ ℍ ℕ ℙ ℚ ℝ ℤ",
    "İstanbul ISTANBUL istanbul ΣΊΣΥΦΟΣ σίσυφος ẞ ß Ǆ ǅ ǆ",
    "q\u0307\u0323 vs q\u0323\u0307 (canonical reordering)",
    "한\u1100\u1161\u11a8 가각",
)

add("control",
    "\u0000null byte\u0000",
    "bell\u0007 backspace\u0008 escape\u001b[31mred\u001b[0m",
    "\u0001\u0002\u0003\u0004\u0005\u0006\u000e\u000f\u0010\u007f",
    "C1: \u0080\u0081\u008d\u008f\u0090\u009b\u009f end",
    "soft\u00adhyphen zero\u200bwidth join\u200dnon\u200cjoin word\u2060joiner",
)

add("odd_unicode",
    "\ufeffBOM at start",
    "replacement \ufffd char \ufffd\ufffd",
    "noncharacters \ufffe \uffff \U0001fffe \U0010ffff",
    "private use \ue000\ue001\uf8ff \U000f0000 \U00100000",
    "unassigned \u0378\u0379 \u0380 \u058b \U0001fbfa",
    "variation selectors \ufe00\ufe0f \U000e0100 alone",
    "tags \U000e0001\U000e0041\U000e007f",
    "math 𝐀𝐁𝐂 𝑥𝑦𝑧 𝔸𝔹ℂ 𝟘𝟙𝟚 ∀x∈ℝ: x²≥0 ∑∫∂√∞≠≤≥",
    "Gothic 𐌰𐌱𐌲 Linear B 𐀀𐀁 cuneiform 𒀀𒀁 Egyptian 𓀀𓀁",
    "box drawing ┌─┬─┐│ │ │└─┴─┘ and blocks ░▒▓█",
    "arrows ←↑→↓↔ ⇐⇒⇔ and dingbats ✂✈✉✏✒",
)

add("specials",
    "<|begin_of_text|>Hello<|end_of_text|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<s>[INST] question [/INST] answer</s>",
    "<unk> <pad> <mask> <bos> <eos> <start_of_turn>user\nhi<end_of_turn>",
    "<think>\nreasoning\n</think>\n\nanswer",
    "partial <|endof and <|im_sta and <s and </ s> and <<s>> and <|<|endoftext|>|>",
    "<|endoftext|><|endoftext|><|endoftext|>",
    " <|endoftext|> spaced <|endoftext|> ",
    "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>",
    "<｜begin▁of▁sentence｜>deepseek<｜end▁of▁sentence｜>",
    "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
)

add("metaspace",
    "▁already▁has▁meta▁spaces",
    "▁ leading meta then space",
    "mixed ▁ and  spaces▁▁ ",
)

add("long_runs",
    " " * 3000,
    "a" * 2000,
    "ab" * 800,
    "!" * 1000,
    "1234567890" * 200,
    "\n" * 500,
    "🙂" * 300,
    "中" * 1500,
    "aaaa bbbb " * 300,
    "-=" * 500 + "\n" + "#" * 300,
    ("The quick brown fox jumps over the lazy dog. " * 60).strip(),
    "\t \n" * 300,
)

# Random mixtures: characters drawn from a fixed inventory of every class the
# pre-tokenizer regexes and normalisers distinguish.
inventory = (
    list("abcxyzABCXYZ0123456789") + list(" \t\n\r") + list("'\".,;:!?-_/\\()[]{}<>@#$%^&*+=|~`") +
    list("éÉñÑüÜßøØåÅçÇ") + list("αβγΣσςабвЖж") + list("你好世界東京ソウル한국") + list("مرحباשלום") +
    list("नमस्तेக்தைภาษา") + ["\u0301", "\u0308", "\u0327", "\u093f", "\u0e31"] +
    ["\u00a0", "\u3000", "\u2009", "\u200b", "\u200d", "\u200e", "\ufeff", "\u2028"] +
    list("٣۴४５²½Ⅻ①") + list("😀👍🏽❤️🇫🇷") + ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085"] +
    list("ﬁ㎏™Ω") + ["\ufffd", "\ue000", "\U0010fffd", "\u0378"] +
    ["'s", "'T", "'re", "'VE", "'ll", "'d", "'M", "<|endoftext|>", "<s>", "</s>", "<|im_start|>", "▁", "▁▁"]
)
rng = random.Random(20240101)
for i in range(120):
    n = rng.choice([1, 2, 3, 5, 8, 13, 40, 120])
    add("random", "".join(rng.choice(inventory) for _ in range(n)))
# Random words: runs of one class with occasional separators, which is where
# the regexes' alternatives compete.
classes = ["abcdefghij", "ABCDEFGH", "0123456789", " ", "\n", ".,!?'", "éñüß", "你好世界", "नमस्ते", "😀👍"]
for i in range(60):
    parts = []
    for _ in range(rng.randint(1, 12)):
        c = rng.choice(classes)
        parts.append("".join(rng.choice(c) for _ in range(rng.randint(1, 6))))
    add("random_words", "".join(parts))

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "corpus.jsonl"), "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(rows), "rows")
