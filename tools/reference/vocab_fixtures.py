"""Token ids from llama.cpp (llama-cpp-python, `special=False`, no BOS) for random texts on every byte-level BPE
vocabulary of llama.cpp's vocab suite: Tests/TesseraTokenizerTests/Fixtures/bpe-<vocab>.jsonl. Dev-only.

Usage: vocab_fixtures.py VOCAB_DIR OUT_DIR [TEXTS_PER_VOCAB [SEED]]
VOCAB_DIR holds ggml-vocab-*.gguf (scripts/fetch-vocab, or the vendored llama.cpp's models/).
"""
import json
import sys
import zlib
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

from bpe_corpus import corpus

vocab_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0

# Fixed cases first: the corners the random texts may miss.
FIXED = ["", " ", "  ", "\n", "\n\n\n", "\r\n", " \r\n\r\n ", "\t\t x", "Hello world", " Hello World!", "HELLO'S I'M",
         "1234567890", "  1234  ", "3.14159", "٣٤٥ ١٢", "日本語のテキスト", "한국어 텍스트", "👨‍👩‍👧‍👦 family", "e\u0301 e\u0301\u0301",
         "\u00a0\u3000\u2028x", "a" * 300, " " * 300 + "x", "9" * 100, "def f(x):\n    return x  # done\n",
         "<s> </s> <|endoftext|> <unk>", "\u2581\u2581x \u2581", "ÿþ\x7f\x01", "don't DON'T Don'T", "   \n   \n"]

out_dir.mkdir(parents=True, exist_ok=True)
for path in sorted(vocab_dir.glob("ggml-vocab-*.gguf")):
    try:
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    except Exception as e:  # noqa: BLE001 - a vocab llama.cpp itself cannot load is not ours to test
        print(f"skip {path.name}: {e}")
        continue
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    if llama_cpp.llama_vocab_type(vocab) != llama_cpp.LLAMA_VOCAB_TYPE_BPE:
        continue
    name = path.name[len("ggml-vocab-"):-len(".gguf")]
    texts = FIXED + corpus(seed + zlib.crc32(name.encode()), n)
    dst = out_dir / f"bpe-{name}.jsonl"
    with open(dst, "w", encoding="utf-8") as f:
        for text in texts:
            ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + "\n")
    print(f"wrote {len(texts)} texts to {dst}")
