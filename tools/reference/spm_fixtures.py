"""SentencePiece (tokenizer model `llama`) parity fixtures from llama.cpp (DESIGN 5): varied random texts, their ids
with special=False and special=True, and llama_detokenize of the latter (remove_special=False, unparse_special=True).

Lines with "bytes" (hex) instead of "text" hold bytes that are not UTF-8, for the encoder alone.

Usage: spm_fixtures.py VOCAB_DIR GEMMA3.gguf OUT_DIR [COUNT]
  VOCAB_DIR holds llama.cpp's ggml-vocab-{llama-spm,phi-3,baichuan}.gguf; writes OUT_DIR/spm-<vocab>.jsonl.

`random_text` is shared with the dev-only differential fuzzer; texts are deterministic for a seed.
"""
import ctypes
import json
import random
import sys

WORDS = ("the of and to in is that it was for on are with as his they be at one have this from or had by hot word but "
         "what some we can out other were all there when up use your how said an each she which do their time if will way "
         "about many then them write would like so these her long make thing see him two has look more day could go come "
         "did number sound no most people my over know water than call first who may down side been now find Hello World "
         "don't I'm you're we've it's l'homme naïve café résumé façade coöperate Straße ﬁnance").split()
PUNCT = list("`~!@#$%^&*()_+-=[]{}|\\;':\",./<>?") + ["...", "--", "—", "–", "“", "”", "‘", "’", "«", "»", "…", "·", "•"]
SPACES = [" ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r", " \n ", "\u00a0",
          "\u3000", "\u2009", "\u200b", "\u2028", "\v", "\f", "▁", "▁▁", " ▁ "]
# (first, last) code point ranges by script
RANGES = [
    (0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0x0400, 0x04FF), (0x0370, 0x03FF), (0x1F00, 0x1FFF),
    (0x0600, 0x06FF), (0x05D0, 0x05EA), (0x0900, 0x097F), (0x0980, 0x09FF), (0x0E00, 0x0E7F), (0x0530, 0x058F),
    (0x10A0, 0x10FF), (0x1200, 0x137F), (0x00A0, 0x024F), (0x2000, 0x2BFF), (0xFF00, 0xFFEF), (0x20000, 0x2A6DF),
    (0x1D400, 0x1D7FF), (0xE000, 0xF8FF), (0xF0000, 0xF00FF), (0x100000, 0x1000FF), (0x0000, 0x001F), (0x007F, 0x009F),
]
EMOJI = ["😀", "👍", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "🦀", "🤖", "✨", "🔥", "🧑🏿‍💻", "☕", "⌚", "🫠", "🪿"]
COMBINING = [chr(c) for c in range(0x0300, 0x0370)] + ["\u20dd", "\u0e31", "\u093f", "\u09bc", "\u302a", "\ufe0f"]


def random_codepoint(rng):
    while True:
        c = rng.randint(0, 0x10FFFF)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def random_piece(rng, normal_tokens, special_tokens):
    k = rng.random()
    if k < 0.20:
        w = rng.choice(WORDS)
        return w.upper() if rng.random() < 0.1 else w.capitalize() if rng.random() < 0.2 else w
    if k < 0.32:
        return rng.choice(SPACES)
    if k < 0.38:
        return str(rng.randint(0, 10 ** rng.randint(1, 12)))
    if k < 0.46:
        return rng.choice(PUNCT)
    if k < 0.60:
        lo, hi = rng.choice(RANGES)
        return "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6)))
    if k < 0.66:
        return rng.choice(EMOJI)
    if k < 0.71:
        base = rng.choice("aeiouncAEOyzكअক")
        return base + "".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 3)))
    if k < 0.76:
        return "".join(random_codepoint(rng) for _ in range(rng.randint(1, 3)))
    if k < 0.90:
        return "".join(rng.choice(normal_tokens) for _ in range(rng.randint(1, 4))).replace("▁", " ")
    if k < 0.95 and special_tokens:
        t = rng.choice(special_tokens)
        return rng.choice(["", " ", "\n"]) + t + rng.choice(["", " ", "  ", "\n"])
    return "<0x%02X>" % rng.randint(0, 255)


def random_text(rng, normal_tokens, special_tokens, max_pieces=16):
    n = rng.randint(1, max_pieces)
    s = "".join(random_piece(rng, normal_tokens, special_tokens) for _ in range(n))
    r = rng.random()
    if r < 0.1:
        s = " " + s
    elif r < 0.2:
        s = s + " "
    return s


def vocab_tokens(llm):
    """(normal token texts, special token texts: control, user-defined and unknown)."""
    import llama_cpp
    v = llm._model.vocab
    normal, special = [], []
    for i in range(llama_cpp.llama_vocab_n_tokens(v)):
        a = llama_cpp.llama_vocab_get_attr(v, i)
        t = llama_cpp.llama_vocab_get_text(v, i).decode("utf-8", "replace")
        if a & (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN):
            special.append(t)
        elif a & llama_cpp.LLAMA_TOKEN_ATTR_NORMAL:
            normal.append(t)
    return normal, special


def detokenize(llm, ids, remove_special=False, unparse_special=True):
    """llama_detokenize's bytes."""
    import llama_cpp
    arr = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
    size = 64 + 64 * len(ids)
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, remove_special, unparse_special)
    assert n >= 0, n
    return buf.raw[:n]


def main():
    from llama_cpp import Llama

    vocab_dir, gemma, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    files = {name: f"{vocab_dir}/ggml-vocab-{name}.gguf" for name in ("llama-spm", "phi-3", "baichuan")}
    files["gemma-3"] = gemma
    for seed, (name, path) in enumerate(files.items()):
        llm = Llama(model_path=path, vocab_only=True, verbose=False)
        normal, special = vocab_tokens(llm)
        rng = random.Random(1000 + seed)
        texts = ["", " ", "  ", "\n", "Hello world", " Hello world", "Hello\n\nworld ", "ί ί", "<0x41>"]
        texts += [random_text(rng, normal, special, max_pieces=10) for _ in range(count - len(texts))]
        with open(f"{out_dir}/spm-{name}.jsonl", "w", encoding="utf-8") as f:
            # Bytes that are not UTF-8 (reachable through the encoder only: Swift strings are always valid), tokenized
            # with special=False; cut into characters by lead byte as llama.cpp does.
            specials = [t.encode("utf-8") for t in special]
            raws = []
            while len(raws) < count // 10:
                raw = bytes(rng.choice([rng.randrange(256), rng.randrange(0x80, 0x100), 0x20, 0x61, 0xE2, 0x96, 0x81, 0xF0])
                            for _ in range(rng.randint(1, 16)))
                if not any(t and t in raw for t in specials):
                    raws.append(raw)
            for raw in raws:
                f.write(json.dumps({"bytes": raw.hex(), "ids": llm.tokenize(raw, add_bos=False, special=False)}) + "\n")
            for text in texts:
                b = text.encode("utf-8")
                ids = llm.tokenize(b, add_bos=False, special=False)
                ids_special = llm.tokenize(b, add_bos=False, special=True)
                decoded = detokenize(llm, ids_special).decode("utf-8", "replace")
                f.write(json.dumps({"text": text, "ids": ids, "idsSpecial": ids_special, "decoded": decoded},
                                   ensure_ascii=False) + "\n")
        print(f"wrote {len(texts)} texts to {out_dir}/spm-{name}.jsonl")


if __name__ == "__main__":
    main()
