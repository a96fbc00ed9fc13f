"""llama.cpp's numbers on the same file and the same shapes as `tessera bench`, through llama-cpp-python's C API:
prefill tok/s of a 512-token prompt; aggregate decode tok/s for 1, 8 and 32 sequences (128-token prompts, 128 new
tokens each, like llama-batched-bench), each after a warm-up. Prints one JSON object.

Usage: llamacpp_bench.py MODEL.gguf [THREADS]
"""
import ctypes
import json
import sys
import time

import llama_cpp as L

model_path = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
L.llama_backend_init()
mparams = L.llama_model_default_params()
model = L.llama_model_load_from_file(model_path.encode(), mparams)
vocab = L.llama_model_get_vocab(model)
n_vocab = L.llama_vocab_n_tokens(vocab)


def context(n_ctx, n_seq):
    p = L.llama_context_default_params()
    p.n_ctx = n_ctx
    p.n_batch = 512
    p.n_ubatch = 512
    p.n_seq_max = n_seq
    p.kv_unified = False  # one KV stream per sequence, as llama-batched-bench runs by default
    p.n_threads = threads
    p.n_threads_batch = threads
    return L.llama_init_from_model(model, p)


def decode(ctx, batch, items):
    """items: (token, pos, seq, want_logits)"""
    batch.n_tokens = len(items)
    for i, (tok, pos, seq, logits) in enumerate(items):
        batch.token[i] = tok
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = logits
    rc = L.llama_decode(ctx, batch)
    if rc != 0:
        raise RuntimeError(f"llama_decode returned {rc}")


def prompt_tokens(n, salt=0):
    return [(1000 + 37 * i + 101 * salt) % (n_vocab - 100) + 50 for i in range(n)]


def prefill(ctx, batch, n):
    toks = prompt_tokens(n)
    L.llama_memory_clear(L.llama_get_memory(ctx), True)
    t = time.perf_counter()
    for start in range(0, n, 512):
        chunk = toks[start:start + 512]
        decode(ctx, batch, [(tok, start + i, 0, start + i == n - 1) for i, tok in enumerate(chunk)])
    L.llama_synchronize(ctx)
    return n / (time.perf_counter() - t)


def batched(ctx, batch, n_seq, n_prompt=128, n_gen=128):
    """Aggregate generation tok/s once all prompts are in (llama-batched-bench's S_TG)."""
    L.llama_memory_clear(L.llama_get_memory(ctx), True)
    for s in range(n_seq):
        toks = prompt_tokens(n_prompt, s)
        decode(ctx, batch, [(tok, i, s, i == n_prompt - 1) for i, tok in enumerate(toks)])
    L.llama_synchronize(ctx)
    t = time.perf_counter()
    for step in range(n_gen):
        # Token choice does not change the cost; a fixed id keeps the run deterministic.
        decode(ctx, batch, [(100 + s, n_prompt + step, s, True) for s in range(n_seq)])
    L.llama_synchronize(ctx)
    return n_seq * n_gen / (time.perf_counter() - t)


ctx = context(32 * 512, 32)
batch = L.llama_batch_init(512, 0, 32)
prefill(ctx, batch, 512)  # warm-up
result = {
    "prefill_tokens_per_s": max(prefill(ctx, batch, 512) for _ in range(3)),
    "decode_tokens_per_s": {},
    "threads": threads,
}
for n in (1, 8, 32):
    batched(ctx, batch, n, n_gen=16)  # warm-up
    result["decode_tokens_per_s"][str(n)] = batched(ctx, batch, n)
print(json.dumps(result))
