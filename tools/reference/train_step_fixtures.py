"""One SGD step of a PEFT adapter in fp32 with transformers + peft on the default model (DESIGN 5): the trainer's
update from the same adapter on the same batch must match it.

For each kind (LoRA, rsLoRA, DoRA, prompt tuning, P-tuning, prefix tuning with and without its projection): a peft adapter with random non-zero weights (lora_B too, so every tensor has a gradient), saved with
save_pretrained in F16 (the reference then starts from exactly those rounded values); a fixed batch of token ids with
per-token weights (weights[j] > 0: token j is a target, predicted from row j-1); the loss of DESIGN 3.12 (sum of
weight x NLL over the batch / sum of weights); one torch.optim.SGD step at lr 1 without clipping; the update
(after - before) of every trainable tensor, in F32, under peft's names. peft saves only the output of P-tuning's and
prefix tuning's encoders, so for those the encoder's own tensors go into prompt_encoder.safetensors (as Tessera's
checkpoints keep them) and the update is of those.

A Gemma 3 file (general.architecture gemma3: Gemma 3 270M) gets its own short batch (Gemma chat turns, llama.cpp's
token ids with BOS; chat rows train the model's answer and its <end_of_turn>) and the kinds LoRA, DoRA, prompt and
prefix tuning, on the base of gguf_reference.py (transformers' GGUF loader is not trusted there). Targets keep the
committed files small (every layer is adapted): LoRA on q (q-norm after it) and down (2048 wide input, after the
GELU-tanh gate), DoRA on k (the one KV head, k-norm after it) and o.

Usage: train_step_fixtures.py MODEL.gguf OUT_DIR
"""
import copy
import json
import os
import sys

import torch
from peft import LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType, get_peft_model
from safetensors.torch import save_file
from peft_fixture import save_f16
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reference import architecture, gemma3_reference  # noqa: E402

CONVERSATIONS = [
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n",
    "<|im_start|>user\nAdd 2 and 3.<|im_end|>\n<|im_start|>assistant\n2 + 3 = 5<|im_end|>\n",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
]

KINDS = {
    "lora": LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "down_proj"]),
    "lora_rslora": LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=3, use_rslora=True,
                              target_modules=["k_proj", "o_proj", "gate_proj", "up_proj"]),
    "dora": LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, use_dora=True,
                       target_modules=["q_proj", "v_proj", "o_proj", "down_proj"]),
    "prompt_tuning": PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4),
    "p_tuning": PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3, encoder_hidden_size=24),
    "prefix_tuning": PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3),
    "prefix_projection": PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=2, prefix_projection=True,
                                            encoder_hidden_size=16),
}

GEMMA3_CONVERSATIONS = [  # <= 40 tokens each: the fp32 step stays cheap on a 262k vocabulary
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\nParis.<end_of_turn>\n",
    "<start_of_turn>user\nAdd 2 and 3.<end_of_turn>\n<start_of_turn>model\n2 + 3 = 5<end_of_turn>\n",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
]

GEMMA3_KINDS = {
    "lora": LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, target_modules=["q_proj", "down_proj"]),
    "dora": LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, use_dora=True,
                       target_modules=["k_proj", "o_proj"]),
    "prompt_tuning": PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4),
    "prefix_tuning": PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3),
}

model_path, out_dir = sys.argv[1], sys.argv[2]
GEMMA3 = architecture(model_path) == "gemma3"
if GEMMA3:
    from llama_cpp import Llama
    CONVERSATIONS, KINDS = GEMMA3_CONVERSATIONS, GEMMA3_KINDS
    vocab = Llama(model_path=model_path, vocab_only=True, verbose=False)

    def tokenize(text, bos=True):
        return vocab.tokenize(text.encode("utf-8"), add_bos=bos, special=True)

    CHAT, ANSWER = "<start_of_turn>", tokenize("<start_of_turn>model\n", bos=False)
    _, GEMMA3_BASE = gemma3_reference(model_path)
else:
    # The batch's ids are inputs to both sides, so any tokenizer of the model will do (transformers' splits some
    # whitespace before digits unlike the original, which does not matter here).
    tokenizer = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(model_path)),
                                              gguf_file=os.path.basename(model_path))

    def tokenize(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    CHAT, ANSWER = "<|im_start|>", tokenize("<|im_start|>assistant\n")


def base_model():
    if GEMMA3:
        return copy.deepcopy(GEMMA3_BASE).eval()
    m = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(model_path)),
                                             gguf_file=os.path.basename(model_path), dtype=torch.float32)
    return m.eval()


def example(text):
    """Chat rows train the assistant's answer and its end-of-turn token (<|im_end|>, <end_of_turn>); plain text trains
    every token but the first."""
    ids = tokenize(text)
    weights = [0.0] * len(ids)
    if text.startswith(CHAT):
        n = len(ANSWER)
        start = next(i for i in range(len(ids) - n) if ids[i:i + n] == ANSWER) + n
        for j in range(start, len(ids) - 1):  # the answer and its end of turn, not the newline after it
            weights[j] = 1.0
    else:
        weights = [0.0] + [1.0] * (len(ids) - 1)
    return ids, weights


batch = [example(t) for t in CONVERSATIONS]
fixture = {"batch": [{"tokens": ids, "weights": w} for ids, w in batch], "kinds": {}}
for seed, (name, config) in enumerate(KINDS.items()):
    torch.manual_seed(200 + seed)
    model = get_peft_model(base_model(), config)
    model.train()  # dropout is 0: train mode changes nothing else in this model
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    # Rows of virtual tokens in the logits: prompt and P-tuning's; prefix tuning's entries are keys and values only.
    virtual = 0 if name.startswith("prefix") else getattr(config, "num_virtual_tokens", 0)
    encoder = name in ("p_tuning", "prefix_projection")
    with torch.no_grad():
        for n, p in params.items():  # prompt embeddings at the scale of the model's token embeddings
            if "lora_magnitude_vector" in n:  # DoRA starts at the weight norms: move them a little
                p.mul_(1 + 0.1 * torch.randn_like(p))
            elif name == "prefix_tuning" or (encoder and "embedding" in n):  # rows a query notices
                p.copy_(torch.randn_like(p) * 0.5)
            else:
                p.copy_(torch.randn_like(p) * 0.05)
            p.copy_(p.to(torch.float16).to(torch.float32))
    path = os.path.join(out_dir, name)
    save_f16(model, path)

    def our_name(n):
        """peft's parameter name as Tessera names it: without the adapter's name; a plain prompt encoder's only
        tensor is what peft saves as prompt_embeddings."""
        if "prompt_encoder" in n:
            return n.replace(".default", "") if encoder else "prompt_embeddings"
        n = n.replace(".default", "")
        return n[:-len(".weight")] if n.endswith("lora_magnitude_vector.weight") else n  # saved without the .weight

    if encoder:
        save_file({our_name(n): p.detach().contiguous() for n, p in params.items()},
                  os.path.join(path, "prompt_encoder.safetensors"), metadata={"format": "pt"})
    before = {n: p.detach().clone() for n, p in params.items()}
    optimizer = torch.optim.SGD(list(params.values()), lr=1.0)
    total = sum(sum(w) for _, w in batch)
    loss = 0.0
    for ids, w in batch:  # one sequence at a time: no padding to get wrong
        logits = model(input_ids=torch.tensor([ids])).logits[0][virtual:]  # rows of the virtual tokens dropped
        logp = torch.log_softmax(logits[:-1], dim=-1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
        loss = loss - (torch.tensor(w[1:]) * logp).sum() / total
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    update = {}
    for n, p in params.items():
        update[our_name(n)] = (p.detach() - before[n]).contiguous()
    save_file(update, os.path.join(path, "update.safetensors"), metadata={"format": "pt"})
    fixture["kinds"][name] = {"loss": float(loss)}
    del model, optimizer, params, before
    print(f"{name}: loss {float(loss):.6f}, update norm {sum(float(u.norm()) ** 2 for u in update.values()) ** 0.5:.6f}")

with open(os.path.join(out_dir, "train_step.json"), "w") as f:
    json.dump(fixture, f)
