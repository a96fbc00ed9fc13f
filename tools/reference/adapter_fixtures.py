"""One PEFT adapter of each kind on the default model, with random non-zero weights (peft zero-initializes lora_B and
starts DoRA magnitudes at the weight norms), saved with save_pretrained, and the teacher-forced logprobs of a few texts
through the reloaded PeftModel in fp32 (DESIGN 5). Token ids come from llama.cpp, as for the base fixtures.

Adapters are stored in F16 or BF16 where noted (the reference then runs on exactly those rounded values), so the
committed files stay small and every dtype is covered.

A Gemma 3 file (general.architecture gemma3: Gemma 3 270M) gets its own texts (with BOS, as llama.cpp adds it) and
adapters, on the base of gguf_reference.py (transformers' GGUF loader is not trusted there). peft feeds prompt and
P-tuning's virtual tokens as inputs_embeds, past Gemma's scaled embedding: real tokens are multiplied by
sqrt(hidden), virtual ones are not. Prefix tuning's entries are per KV head: [n, layers x 2 x kv_heads x head_dim].

Usage: adapter_fixtures.py MODEL.gguf OUT_DIR
"""
import copy
import json
import os
import shutil
import sys

import numpy as np
import torch
from llama_cpp import Llama
from peft import (LoraConfig, PeftModel, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType,
                  get_peft_model)
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reference import architecture, gemma3_reference  # noqa: E402

TEXTS = [
    "The capital of France is Paris. It is known for the Eiffel Tower and the Louvre.",
    "<|im_start|>user\nName three primary colors.<|im_end|>\n<|im_start|>assistant\nRed, yellow and blue.<|im_end|>\n",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
]

ADAPTERS = {
    # target_modules as a regex, all layers
    "lora": (LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=16,
                        target_modules=r".*\.(q_proj|v_proj)$"), torch.float16),
    # every linear module as a list, a subset of layers, rsLoRA, per-module rank and alpha
    "lora_patterns": (LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=6, use_rslora=True,
                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                 "down_proj"],
                                 layers_to_transform=[0, 1, 2, 7, 11, 29], rank_pattern={"down_proj": 3},
                                 alpha_pattern={"q_proj": 5}), torch.bfloat16),
    "dora": (LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, use_dora=True,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], layers_to_transform=[0, 3, 5, 28]),
             torch.float32),
    "prompt_tuning": (PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=6), torch.float32),
    "p_tuning": (PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5, encoder_hidden_size=32),
                 torch.float16),
    "prefix_tuning": (PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4), torch.float32),
}

GEMMA3_TEXTS = [  # the first and the last are texts of families.json's Gemma 3 270M cases: the same base logprobs
    "The capital of France is Paris. It is known for the Eiffel Tower, the Louvre museum, and its cafés.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "<start_of_turn>user\nWhat is 17 times 23? Explain briefly.<end_of_turn>\n<start_of_turn>model\n"
    "17 times 23 is 391: 17 × 20 = 340 and 17 × 3 = 51, and 340 + 51 = 391.<end_of_turn>\n"
    "<start_of_turn>user\nThanks! Now 12 squared?<end_of_turn>\n<start_of_turn>model\n144.<end_of_turn>\n",
]

# Gemma 3 270M: 18 layers (every 6th global: 5, 11, 17), 4 query heads and 1 KV head of 256, hidden 640.
GEMMA3_ADAPTERS = {
    "lora": (LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=16,
                        target_modules=r".*\.(q_proj|v_proj)$"), torch.float16),
    "dora": (LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, use_dora=True,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], layers_to_transform=[0, 3, 5, 17]),
             torch.float32),
    "prompt_tuning": (PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=6), torch.float32),
    "p_tuning": (PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5, encoder_hidden_size=32),
                 torch.float16),
    "prefix_tuning": (PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4), torch.float32),
}

model_path, out_dir = sys.argv[1], sys.argv[2]
vocab = Llama(model_path=model_path, vocab_only=True, verbose=False)
GEMMA3 = architecture(model_path) == "gemma3"
if GEMMA3:
    TEXTS, ADAPTERS, BASE_NAME = GEMMA3_TEXTS, GEMMA3_ADAPTERS, "google/gemma-3-270m-it"
    _, GEMMA3_BASE = gemma3_reference(model_path)
else:
    BASE_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"


def base_model():
    if GEMMA3:
        return copy.deepcopy(GEMMA3_BASE).eval()
    m = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(model_path)),
                                             gguf_file=os.path.basename(model_path), dtype=torch.float32)
    return m.eval()


def logprobs(model, ids, virtual):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double().numpy()
    logits = logits[virtual:]  # prompt and P-tuning return rows for the virtual tokens too (DESIGN 5)
    m = logits.max(axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))
    return [float(logits[i, ids[i + 1]] - lse[i]) for i in range(len(ids) - 1)]


def gemma3_checks(name, model, ids, lps):
    """What peft does on Gemma 3: virtual tokens enter unscaled (real ones through the scaled embedding); prefix
    entries are per KV head (1 x 256 here, not 4 x 160)."""
    cfg = model.peft_config["default"]
    if name in ("prompt_tuning", "p_tuning"):
        base = model.get_base_model()
        rows = model.get_prompt(batch_size=1)  # [1, n, hidden]
        embed = base.model.embed_tokens
        assert abs(float(embed.embed_scale) - 640 ** 0.5) < 1e-4
        for scale, should_match in ((1.0, True), (640 ** 0.5, False)):
            with torch.no_grad():
                x = torch.cat([rows * scale, embed(torch.tensor([ids]))], dim=1)
                logits = base(inputs_embeds=x).logits[0, cfg.num_virtual_tokens:].double().numpy()
            m = logits.max(axis=-1, keepdims=True)
            lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))
            ref = [float(logits[i, ids[i + 1]] - lse[i]) for i in range(len(ids) - 1)]
            d = float(np.abs(np.array(ref) - np.array(lps)).max())
            print(f"  {name}: virtual rows x {scale:.3f} then base(inputs_embeds): max |diff| vs peft {d:.2e}")
            assert (d < 1e-5) == should_match, d
    if name == "prefix_tuning":
        assert (cfg.num_attention_heads, cfg.token_dim, cfg.num_layers) == (1, 256, 18), cfg
        pkv = model.get_prompt(batch_size=1)
        k = pkv.layers[0].keys
        print(f"  prefix_tuning: token_dim {cfg.token_dim}, num_attention_heads {cfg.num_attention_heads}; "
              f"prompt_embeddings {tuple(model.prompt_encoder['default'].embedding.weight.shape)}; "
              f"cache {type(pkv).__name__} of {len(pkv.layers)} layers, keys {tuple(k.shape)}")
        assert tuple(k.shape) == (1, 1, cfg.num_virtual_tokens, 256)


token_ids = [vocab.tokenize(t.encode("utf-8"), add_bos=GEMMA3, special=True) for t in TEXTS]
base = base_model()
base_lp = [logprobs(base, ids, 0) for ids in token_ids]
fixture = {"texts": [{"text": t, "tokens": ids, "base": lp} for t, ids, lp in zip(TEXTS, token_ids, base_lp)],
           "adapters": {}}
for seed, (name, (config, dtype)) in enumerate(ADAPTERS.items()):
    torch.manual_seed(100 + seed)
    peft_model = get_peft_model(base_model(), config)
    with torch.no_grad():
        for pname, p in peft_model.named_parameters():
            if not p.requires_grad:
                continue
            if "lora_magnitude_vector" in pname:
                p.mul_(1 + 0.1 * torch.randn_like(p))
            elif "lora_" in pname:
                p.copy_(torch.randn_like(p) * 0.05)
            else:  # prompt, P-tuning encoder, prefix embeddings
                p.copy_(torch.randn_like(p) * 0.5)
            p.copy_(p.to(dtype).to(torch.float32))  # the values the saved file holds
    path = os.path.join(out_dir, name)
    shutil.rmtree(path, ignore_errors=True)
    peft_model.save_pretrained(path)
    if dtype != torch.float32:
        from safetensors.torch import load_file, save_file
        f = os.path.join(path, "adapter_model.safetensors")
        save_file({k: v.to(dtype) for k, v in load_file(f).items()}, f, metadata={"format": "pt"})
    # What a published adapter names (save_pretrained writes the local directory here), and no model card.
    config_path = os.path.join(path, "adapter_config.json")
    with open(config_path) as f:
        saved = json.load(f)
    saved["base_model_name_or_path"] = BASE_NAME
    with open(config_path, "w") as f:
        json.dump(saved, f, indent=2, sort_keys=True)
    os.remove(os.path.join(path, "README.md"))
    del peft_model
    reloaded = PeftModel.from_pretrained(base_model(), path).eval()
    virtual = getattr(config, "num_virtual_tokens", 0) if name in ("prompt_tuning", "p_tuning") else 0
    lps = [logprobs(reloaded, ids, virtual) for ids in token_ids]
    if GEMMA3:
        gemma3_checks(name, reloaded, token_ids[0], lps[0])
    del reloaded
    diffs = [float(np.abs(np.array(a) - np.array(b)).mean()) for a, b in zip(lps, base_lp)]
    print(f"{name}: mean |adapter - base| per text {['%.3f' % d for d in diffs]}")
    fixture["adapters"][name] = lps

with open(os.path.join(out_dir, "logprobs.json"), "w", encoding="utf-8") as f:
    json.dump(fixture, f, ensure_ascii=False)
