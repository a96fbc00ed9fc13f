"""Random-weight GGUFs with a real model's shape and vocabulary: benchmark material, not test fixtures. The weights
are noise, so the text is garbage, but the tensor shapes, vocabulary size, metadata and llama-quantize's tensor-type
choices match the real model, and those decide the speed and memory use.

The F16 GGUF is written directly with gguf-py's GGUFWriter: tensor names and metadata keys are the ones
convert_hf_to_gguf.py (conversion/llama.py, qwen.py, gemma.py, base.py) writes for that architecture from the
model's HF config, and every tokenizer.* key is copied from a vocab-only (or any) GGUF of the family. Then
llama-quantize turns it into --type, and the F16 file is deleted.

Weights are N(0, 0.02) (the usual initializer_range); norm weights are 1 + N(0, 0.01), i.e. as stored in the GGUF
(Gemma's converter adds the +1 of Gemma3RMSNorm, so its stored norms are ~1 too); biases N(0, 0.02). Llama's Q/K rows
would be permuted by the converter into llama.cpp's interleaved RoPE layout; for noise the permutation is moot.
Each tensor gets its own generator seeded by (seed, crc32(name)), so a tensor's values don't depend on the others.

Usage: random_model.py [--shape llama3.2-1b|gemma3-1b|qwen2.5-0.5b|qwen3-0.6b] [--type Q4_K_M] [--seed 0]
                       [--threads 2] [--keep-f16] [OUTPUT]
  OUTPUT defaults to <repo>/models/<shape>-random-<type>.gguf (models/ is git-ignored). --type F16 skips
  quantization and writes the F16 file as the output.
Example: .venv-reference/bin/python tools/reference/random_model.py --shape llama3.2-1b --type Q4_K_M
"""
import argparse
import math
import os
import subprocess
import sys
import time
import zlib

import gguf
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QUANTIZE = os.path.join(ROOT, ".bench/llama-avx512/llama-quantize")
VOCAB_DIR = os.path.join(ROOT, "models/vocab")

WEIGHT_STD = 0.02
NORM_STD = 0.01
CHUNK = 1 << 24  # elements generated per step: 64 MB of float32 at a time, so memory stays ~ one F16 tensor

# Shapes from the models' HF config.json (transformers' known configs). Keys follow the HF names so the metadata below
# can be derived exactly as convert_hf_to_gguf.py does. "vocab" is the GGUF whose tokenizer.* keys are copied.
SHAPES = {
    # meta-llama/Llama-3.2-1B(-Instruct)
    "llama3.2-1b": dict(
        arch=gguf.MODEL_ARCH.LLAMA, name="Llama 3.2 1B (random weights)",
        vocab="ggml-vocab-llama-bpe.gguf",
        hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
        intermediate_size=8192, vocab_size=128256, max_position_embeddings=131072, rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=8192)),
    # google/gemma-3-1b-it (Gemma3TextConfig); the tokenizer is shared by all Gemma 3 sizes
    "gemma3-1b": dict(
        arch=gguf.MODEL_ARCH.GEMMA3, name="Gemma 3 1B (random weights)",
        vocab=os.path.join("..", "gemma-3-270m-it-Q4_K_M.gguf"),
        hidden_size=1152, num_hidden_layers=26, num_attention_heads=4, num_key_value_heads=1, head_dim=256,
        intermediate_size=6912, vocab_size=262144, max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_theta=1000000.0, rope_local_base_freq=10000.0, sliding_window=512),
    # Qwen/Qwen2.5-0.5B(-Instruct): no head_dim in its config, q/k/v biases
    "qwen2.5-0.5b": dict(
        arch=gguf.MODEL_ARCH.QWEN2, name="Qwen2.5 0.5B (random weights)",
        vocab="ggml-vocab-qwen2.gguf",
        hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
        intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_theta=1000000.0),
    # Qwen/Qwen3-0.6B: head_dim 128 (!= hidden/heads), q/k RMS norms, no biases
    "qwen3-0.6b": dict(
        arch=gguf.MODEL_ARCH.QWEN3, name="Qwen3 0.6B (random weights)",
        vocab="ggml-vocab-qwen2.gguf",
        hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
        intermediate_size=3072, vocab_size=151936, max_position_embeddings=40960, rms_norm_eps=1e-6,
        rope_theta=1000000.0),
}


def llama3_rope_factors(cfg):
    """rope_freqs.weight as LlamaModel.generate_extra_tensors computes it (float32 throughout, as its torch code)."""
    rs = cfg["rope_scaling"]
    dim = cfg["head_dim"]
    freqs = 1.0 / (np.float32(cfg["rope_theta"]) ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))
    factor, low, high, old_ctx = (rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"],
                                  rs["original_max_position_embeddings"])
    low_freq_wavelen = old_ctx / low
    high_freq_wavelen = old_ctx / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq  # np.float32 / python float stays float32 (NEP 50), like a 0-d torch tensor
        if wavelen < high_freq_wavelen:
            factors.append(1)
        elif wavelen > low_freq_wavelen:
            factors.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def tensor_plan(cfg):
    """(name, numpy shape (rows, cols) as HF stores it, kind) in the order the converter emits them.
    kind: "w" 2-D weight -> F16, "norm" -> F32 ~1, "bias" -> F32 ~0, "rope" -> F32 rope factors.
    The converter keeps 1-D tensors in F32 (and llama-quantize leaves them so)."""
    arch = cfg["arch"]
    n_embd, n_ff, n_vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    head_dim = cfg.get("head_dim") or n_embd // cfg["num_attention_heads"]
    q_out = head_dim * cfg["num_attention_heads"]
    kv_out = head_dim * cfg["num_key_value_heads"]
    T = gguf.MODEL_TENSOR

    def name(t, bid=None, suffix=".weight"):
        return gguf.TENSOR_NAMES[t].format(bid=bid) + suffix

    plan = []
    if arch == gguf.MODEL_ARCH.LLAMA and cfg.get("rope_scaling", {}).get("rope_type") == "llama3":
        plan.append((name(T.ROPE_FREQS), (head_dim // 2,), "rope"))
    # tied embeddings in all four models: no output.weight, llama.cpp falls back to token_embd
    plan.append((name(T.TOKEN_EMBD), (n_vocab, n_embd), "w"))
    for bid in range(cfg["num_hidden_layers"]):
        plan.append((name(T.ATTN_NORM, bid), (n_embd,), "norm"))
        plan.append((name(T.ATTN_Q, bid), (q_out, n_embd), "w"))
        plan.append((name(T.ATTN_K, bid), (kv_out, n_embd), "w"))
        plan.append((name(T.ATTN_V, bid), (kv_out, n_embd), "w"))
        if arch == gguf.MODEL_ARCH.QWEN2:  # Qwen2 has q/k/v biases (attention_bias is implicit True)
            plan.append((name(T.ATTN_Q, bid, ".bias"), (q_out,), "bias"))
            plan.append((name(T.ATTN_K, bid, ".bias"), (kv_out,), "bias"))
            plan.append((name(T.ATTN_V, bid, ".bias"), (kv_out,), "bias"))
        if arch in (gguf.MODEL_ARCH.QWEN3, gguf.MODEL_ARCH.GEMMA3):  # per-head RMS norm of q and k
            plan.append((name(T.ATTN_Q_NORM, bid), (head_dim,), "norm"))
            plan.append((name(T.ATTN_K_NORM, bid), (head_dim,), "norm"))
        plan.append((name(T.ATTN_OUT, bid), (n_embd, q_out), "w"))
        if arch == gguf.MODEL_ARCH.GEMMA3:  # Gemma 3 norms both sides of each block (sandwich norm)
            plan.append((name(T.ATTN_POST_NORM, bid), (n_embd,), "norm"))
        plan.append((name(T.FFN_NORM, bid), (n_embd,), "norm"))
        plan.append((name(T.FFN_GATE, bid), (n_ff, n_embd), "w"))
        plan.append((name(T.FFN_UP, bid), (n_ff, n_embd), "w"))
        plan.append((name(T.FFN_DOWN, bid), (n_embd, n_ff), "w"))
        if arch == gguf.MODEL_ARCH.GEMMA3:
            plan.append((name(T.FFN_POST_NORM, bid), (n_embd,), "norm"))
    plan.append((name(T.OUTPUT_NORM), (n_embd,), "norm"))
    return plan


def make_tensor(cfg, name, shape, kind, seed):
    if kind == "rope":
        return llama3_rope_factors(cfg)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    n = math.prod(shape)
    out = np.empty(n, dtype=np.float16 if kind == "w" else np.float32)
    std = NORM_STD if kind == "norm" else WEIGHT_STD
    for start in range(0, n, CHUNK):
        chunk = rng.standard_normal(min(CHUNK, n - start), dtype=np.float32)
        chunk *= std
        if kind == "norm":
            chunk += 1.0
        out[start:start + len(chunk)] = chunk  # float32 -> float16 conversion happens here, chunk by chunk
    return out.reshape(shape)


def copy_tokenizer(writer, vocab_path):
    """Every tokenizer.* key of vocab_path, with its exact GGUF types. Strings are copied as raw bytes so nothing is
    re-encoded."""
    reader = gguf.GGUFReader(vocab_path)
    copied = []
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                val = [bytes(field.parts[i]) for i in field.data]
            else:
                val = field.contents()
            writer.add_key_value(key, val, vtype, sub_type=sub)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[field.data[0]]), vtype)
        else:
            writer.add_key_value(key, field.contents(), vtype)
        copied.append(key)
    n_tokens = len(reader.fields["tokenizer.ggml.tokens"].data)
    return copied, n_tokens


def add_hparams(writer, cfg):
    """The keys TextModel.set_gguf_parameters and the family's override write for this config."""
    arch = cfg["arch"]
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(cfg["name"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_head_count_kv(cfg["num_key_value_heads"])
    writer.add_rope_freq_base(cfg["rope_theta"])
    if "rope_local_base_freq" in cfg:  # base.py maps it to rope_parameters["sliding_attention"]["rope_theta"]
        writer.add_rope_freq_base_swa(cfg["rope_local_base_freq"])
    writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if "head_dim" in cfg:  # only written when the HF config has head_dim (Qwen2.5's has not)
        writer.add_key_length(cfg["head_dim"])
        writer.add_value_length(cfg["head_dim"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    if arch == gguf.MODEL_ARCH.LLAMA:  # LlamaModel.set_gguf_parameters; llama3 scaling itself is rope_freqs.weight
        writer.add_vocab_size(cfg["vocab_size"])
        writer.add_rope_dimension_count(cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"])
    if arch == gguf.MODEL_ARCH.GEMMA3:  # Gemma3Model.set_gguf_parameters (sliding_window_pattern 6 is llama.cpp's default)
        writer.add_sliding_window(cfg["sliding_window"])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def write_f16(cfg, path, seed):
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[cfg["arch"]])
    plan = tensor_plan(cfg)
    # Declare every tensor first (header + tensor infos go before the data), then stream the data one tensor at a time
    # instead of add_tensor(), which would hold the whole model in memory until the file is written.
    for name, shape, kind in plan:
        dtype = np.float16 if kind == "w" else np.float32
        writer.add_tensor_info(name, shape, np.dtype(dtype), math.prod(shape) * np.dtype(dtype).itemsize)
    total = sum(math.prod(s) for _, s, k in plan if k != "rope")
    writer.add_size_label(gguf.size_label(total, total, 0, 0))
    add_hparams(writer, cfg)
    copied, n_tokens = copy_tokenizer(writer, os.path.join(VOCAB_DIR, cfg["vocab"]))
    if n_tokens != cfg["vocab_size"]:
        sys.exit(f"{cfg['vocab']} has {n_tokens} tokens, the shape needs {cfg['vocab_size']}")
    print(f"copied {len(copied)} tokenizer keys: {', '.join(k.removeprefix('tokenizer.') for k in copied)}")
    print(f"{len(plan)} tensors, {total / 1e9:.3f} B parameters")

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for i, (name, shape, kind) in enumerate(plan):
        writer.write_tensor_data(make_tensor(cfg, name, shape, kind, seed))
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(plan)} tensors written", flush=True)
    writer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output", nargs="?")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama3.2-1b")
    ap.add_argument("--type", default="Q4_K_M", help="llama-quantize type name, or F16 for no quantization")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="llama-quantize threads")
    ap.add_argument("--keep-f16", action="store_true", help="keep the intermediate F16 GGUF")
    ap.add_argument("--quantize", default=QUANTIZE, help="llama-quantize binary")
    args = ap.parse_args()

    cfg = SHAPES[args.shape]
    out = args.output or os.path.join(ROOT, "models", f"{args.shape}-random-{args.type}.gguf")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    f16 = out if args.type.upper() == "F16" else out.removesuffix(".gguf") + ".f16.gguf"

    t0 = time.time()
    write_f16(cfg, f16, args.seed)
    t1 = time.time()
    print(f"wrote {f16} ({os.path.getsize(f16) / 1e9:.2f} GB) in {t1 - t0:.0f} s", flush=True)
    if f16 == out:
        return
    try:
        subprocess.run([args.quantize, f16, out, args.type, str(args.threads)], check=True)
    finally:
        if not args.keep_f16 and os.path.exists(f16):
            os.remove(f16)
    print(f"wrote {out} ({os.path.getsize(out) / 1e9:.3f} GB); quantized in {time.time() - t1:.0f} s")


if __name__ == "__main__":
    main()
