"""Pieces from llama.cpp's own `unicode_regex_split` (pretok_split.cpp, compiled against the vendored source) for
random texts under every BPE pre-tokenizer type: Tests/TesseraTokenizerTests/Fixtures/pretokenizer-splits.jsonl.
Most types have no vocabulary in llama.cpp's suite; this checks their splitting. Dev-only (needs g++).

Each line: {"text": ..., "splits": [{"pre": [names...], "lengths": [piece lengths in codepoints]}]}, types with
the same pieces for that text grouped, one `tokenizer.ggml.pre` name per type.

Usage: pretokenizer_fixtures.py [OUT.jsonl [TEXTS]]
"""
import json
import sys

from bpe_corpus import corpus
from llama_pretokenizers import ROOT, Splitter, pre_names, pre_types

out = sys.argv[1] if len(sys.argv) > 1 else ROOT / "Tests/TesseraTokenizerTests/Fixtures/pretokenizer-splits.jsonl"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 150

names, types = pre_names(), pre_types()
representative = {}
for name, v in names.items():
    representative.setdefault(v["type"], name)
splitter = Splitter()
fixed = ["1234567 12 123456", "  x  \n\n y \r\n\tz", "Hello WORLD'S 'LL don't", "日本語テキスト한국어", "<sentinel:42>IMGIMGABZ",
         "a\u0301\u0302b c\u0308", "\u3000\u00a0\u2028\u0085x", "x" * 40 + " " * 40 + "9" * 40]
with open(out, "w", encoding="utf-8") as f:
    for text in fixed + corpus(99, n):
        groups = {}
        for t, name in representative.items():
            escaped = text.replace(" ", "\u2581") if names[name]["escape_whitespaces"] else text
            pieces = splitter.split(escaped.encode("utf-8"), types[t]["regexes"], byte_encode=False)
            assert pieces is not None, (t, text)
            lengths = tuple(len(p.decode("utf-8")) for p in pieces if p)
            groups.setdefault(lengths, []).append(name)
        splits = [{"pre": v, "lengths": list(k)} for k, v in groups.items()]
        f.write(json.dumps({"text": text, "splits": splits}, ensure_ascii=False) + "\n")
print(f"wrote {len(fixed) + n} texts to {out}")
