"""Token ids of the corpus from llama.cpp, which reproduces the model's original tokenizer (DESIGN 5).

Usage: tokenizer_fixtures.py MODEL.gguf OUT.jsonl
"""
import json
import sys

from llama_cpp import Llama

from corpus import corpus

model, out = sys.argv[1], sys.argv[2]
llm = Llama(model_path=model, vocab_only=True, verbose=False)
with open(out, "w", encoding="utf-8") as f:
    for text in corpus():
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + "\n")
print(f"wrote {len(corpus())} texts to {out}")
