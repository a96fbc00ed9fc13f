"""Tiny random models of the families beyond Llama 2 style (DESIGN 5): Qwen 2, Qwen 3, Llama 3.1 (llama3 RoPE scaling,
`rope_freqs.weight`) and Gemma 3 (text). Each is a transformers model made from an explicit config with fixed seeds,
saved as an HF directory, converted by the vendored `convert_hf_to_gguf.py` to f32 and quantized by `llama-quantize`.

Tokenizer: a small byte-level BPE (GPT-2 pre-tokenizer regex, 512 entries) trained with `tokenizers` on a fixed corpus,
one per family with that family's special tokens. The converter identifies a BPE pre-tokenizer by hashing the token ids
of a check string and refuses unknown hashes; a freshly trained vocabulary has no known hash, so the conversion runs
with `TextModel.get_vocab_base_pre` patched to return "gpt-2" (which is what the trained tokenizer really uses).
Gemma 3's converter takes the `tokenizer.json` path (`_set_vocab_gpt2`) when there is no `tokenizer.model`.

Usage: family_models.py OUTDIR [SCRATCH]
  OUTDIR  gets the quantized GGUFs (committed test material: Tests/TesseraModelTests/Fixtures/families)
  SCRATCH gets the HF directories and f32 GGUFs (default: <repo>/models/families, git-ignored)

family_logprob_fixtures.py imports FAMILIES / make_config from here: the reference is built from these original
configs (transformers' GGUF loader drops llama3 RoPE scaling and Qwen 3's head size).
"""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LLAMA_CPP = os.path.join(ROOT, ".bench/src/llama_cpp_python-0.3.36/vendor/llama.cpp")
QUANTIZE = os.path.join(ROOT, ".bench/llama-avx512/llama-quantize")
VOCAB = 512

SPECIALS = {
    "qwen": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "gemma": ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
}

# name -> transformers config class and its arguments, tokenizer special tokens, llama-quantize types, weight seed
FAMILIES = {
    "qwen2": dict(
        cls="Qwen2Config", specials="qwen", quants=["Q8_0"], seed=1,
        config=dict(vocab_size=VOCAB, hidden_size=128, intermediate_size=320, num_hidden_layers=3,
                    num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    max_position_embeddings=4096, tie_word_embeddings=True,
                    bos_token_id=None, eos_token_id=2, pad_token_id=0)),
    "qwen3": dict(
        cls="Qwen3Config", specials="qwen", quants=["Q8_0"], seed=2,
        config=dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=192, num_hidden_layers=4,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
                    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                    max_position_embeddings=4096, tie_word_embeddings=True, attention_bias=False,
                    bos_token_id=None, eos_token_id=2, pad_token_id=0)),
    "llama31": dict(
        cls="LlamaConfig", specials="llama3", quants=["Q8_0", "Q4_K_M"], seed=3,
        config=dict(vocab_size=VOCAB, hidden_size=256, intermediate_size=256, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                    rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                     "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                     "original_max_position_embeddings": 8192},
                    max_position_embeddings=131072, tie_word_embeddings=False,
                    bos_token_id=0, eos_token_id=1)),
    "gemma3": dict(
        cls="Gemma3TextConfig", specials="gemma", quants=["Q8_0"], seed=4,
        config=dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=256, num_hidden_layers=7,
                    num_attention_heads=4, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32,
                    rms_norm_eps=1e-6, sliding_window=8, hidden_activation="gelu_pytorch_tanh",
                    rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
                    max_position_embeddings=32768, tie_word_embeddings=True,
                    final_logit_softcapping=None, attn_logit_softcapping=None,
                    pad_token_id=0, eos_token_id=1, bos_token_id=2)),
}


def make_config(name):
    import transformers
    fam = FAMILIES[name]
    cfg = getattr(transformers, fam["cls"])(**json.loads(json.dumps(fam["config"])))
    cfg.architectures = [{"Qwen2Config": "Qwen2ForCausalLM", "Qwen3Config": "Qwen3ForCausalLM",
                          "LlamaConfig": "LlamaForCausalLM", "Gemma3TextConfig": "Gemma3ForCausalLM"}[fam["cls"]]]
    return cfg


def training_texts():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import random
    import corpus
    texts = list(corpus.HAND)
    rng = random.Random(7)
    words = corpus.WORDS + ["model", "token", "layer", "attention", "window", "rotary", "gemma", "qwen", "llama",
                            "the", "of", "and", "to", "in", "is", "that", "for", "it", "with", "as", "on", "be"]
    for _ in range(400):
        texts.append("".join(rng.choice(words) + rng.choice(corpus.SEPS) for _ in range(rng.randint(3, 30))))
    return texts


def make_tokenizer(kind, outdir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS[kind], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_texts(), trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    names = {"qwen": dict(eos_token="<|im_end|>", pad_token="<|endoftext|>"),
             "llama3": dict(bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>"),
             "gemma": dict(pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>")}[kind]
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **names)
    fast.save_pretrained(outdir)


def randomize(model, seed, gemma):
    """Every parameter random, scaled so activations stay O(1) and logits are spread but not one-hot."""
    import torch
    g = torch.Generator().manual_seed(seed)
    hidden = model.config.hidden_size
    tied = model.config.tie_word_embeddings
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
            if name.endswith("norm.weight"):
                # Gemma stores w and applies (1 + w); the others apply w.
                p.copy_((0.15 if gemma else 1.0) + 0.25 * n(p.shape))
            elif name.endswith(".bias"):
                p.copy_(0.3 * n(p.shape))
            elif "embed_tokens" in name:
                # tied: also the output head; logit spread ~ 1.3 * |norm weight|
                p.copy_((1.3 / hidden ** 0.5 if tied else 1.0) * n(p.shape))
            elif name == "lm_head.weight":
                p.copy_(1.3 / hidden ** 0.5 * n(p.shape))
            else:
                fan_in = p.shape[1]
                gain = 1.3 if any(k in name for k in ("q_proj", "k_proj")) else 1.0
                p.copy_(gain / fan_in ** 0.5 * n(p.shape))


CONVERT = r"""
import os, sys, runpy
llama = sys.argv[1]
sys.path.insert(0, llama)
sys.path.insert(1, os.path.join(llama, "gguf-py"))
import conversion.base
# A freshly trained byte-level BPE has no known pre-tokenizer hash; it uses GPT-2's regex.
conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
sys.argv = [os.path.join(llama, "convert_hf_to_gguf.py")] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def main():
    outdir = os.path.abspath(sys.argv[1])
    scratch = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "models", "families"))
    os.makedirs(outdir, exist_ok=True)
    os.makedirs(scratch, exist_ok=True)
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(2)
    for name, fam in FAMILIES.items():
        hf_dir = os.path.join(scratch, f"{name}-hf")
        config = make_config(name)
        torch.manual_seed(fam["seed"])
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        randomize(model, fam["seed"], gemma=name.startswith("gemma"))
        model.save_pretrained(hf_dir)
        make_tokenizer(fam["specials"], hf_dir)
        f32 = os.path.join(scratch, f"{name}-f32.gguf")
        env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # the converter uses its own gguf-py
        subprocess.run([sys.executable, "-c", CONVERT, LLAMA_CPP, hf_dir, "--outtype", "f32", "--outfile", f32],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        for q in fam["quants"]:
            out = os.path.join(outdir, f"{name}-{q}.gguf")
            subprocess.run([QUANTIZE, f32, out, q, "2"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            print(f"{name}: {os.path.relpath(out, ROOT)} {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
