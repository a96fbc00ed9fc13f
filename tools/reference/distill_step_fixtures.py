"""One distillation SGD step in fp32 with transformers + peft on the default model (DESIGN 5), context distillation:
the teacher is the base with the adapter off (peft's disable_adapter) reading each answer after a system prompt the
student does not see. At each of the answer's tokens the teacher's softmax(z / T) is kept as its top K tokens and the
rest's mass (Tessera's sparse teacher); the student's softmax(z / T) is read on the same K + 1 outcomes and the loss
is ratio * D + (1 - ratio) * CE(data token) per trained token, mean over the trained tokens, with D one of TRL's GKD
divergences (forward KL, reverse KL, generalized JSD with beta). The trainer's update must match this one.

Kinds: a LoRA (forward KL, T = 2, ratio 0.7: the temperature and the cross-entropy mix) and a prompt-tuning adapter
(JSD with beta 0.5, T = 1), random non-zero weights saved in F16. Writes OUT_DIR/distill_<kind>/ (the adapter and
update.safetensors) and OUT_DIR/distill_step.json (rows, top k, settings, losses).

Usage: distill_step_fixtures.py MODEL.gguf OUT_DIR
"""
import json
import os
import sys

import torch
from peft import LoraConfig, PromptTuningConfig, TaskType, get_peft_model
from safetensors.torch import save_file
from peft_fixture import save_f16
from transformers import AutoModelForCausalLM, AutoTokenizer

TOP_K = 16
SYSTEM = "<|im_start|>system\nYou are a pirate. Answer like one.<|im_end|>\n"
ROWS = [
    ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", "Arr, Paris it be."),
    ("<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n", "A pear, matey!"),
    ("<|im_start|>user\nHow many legs does a dog have?<|im_end|>\n<|im_start|>assistant\n", "Four, says I."),
]
KINDS = {
    "distill_lora": (LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "up_proj"]),
                     {"divergence": "forward", "temperature": 2.0, "ratio": 0.7, "jsd_beta": 0.5}),
    "distill_prompt_tuning": (PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3),
                              {"divergence": "jsd", "temperature": 1.0, "ratio": 1.0, "jsd_beta": 0.5}),
}

model_path, out_dir = sys.argv[1], sys.argv[2]
folder, file = os.path.dirname(os.path.abspath(model_path)), os.path.basename(model_path)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)


def tokenize(text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


rows = [{"prompt": tokenize(p), "teacher_prompt": tokenize(SYSTEM + p), "answer": tokenize(a + "<|im_end|>")} for p, a in ROWS]
fixture = {"top_k": TOP_K, "rows": rows, "kinds": {}}


def answer_logits(model, context, answer, virtual):
    """Logits at the positions predicting each answer token."""
    ids = context + answer
    logits = model(input_ids=torch.tensor([ids])).logits[0][virtual:]
    return logits[len(context) - 1:len(ids) - 1]


def teacher_sparse(logits, t):
    """Top K of softmax(z / T) per position, and the rest's mass."""
    p = torch.softmax(logits / t, dim=-1)
    top = torch.topk(p, TOP_K, dim=-1)
    return top.indices, top.values, (1 - top.values.sum(-1)).clamp_min(1e-6)


def divergence(kind, qs, qt, beta):
    """Per position, over the K + 1 outcomes (last: the bucket)."""
    def kl(a, b):
        return (a * (a.clamp_min(1e-30).log() - b.clamp_min(1e-30).log())).sum(-1)
    if kind == "forward" or (kind == "jsd" and beta == 0):
        return kl(qt, qs)
    if kind == "reverse" or (kind == "jsd" and beta == 1):
        return kl(qs, qt)
    m = beta * qt + (1 - beta) * qs
    return beta * kl(qt, m) + (1 - beta) * kl(qs, m)


for seed, (name, (config, settings)) in enumerate(KINDS.items()):
    torch.manual_seed(400 + seed)
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32).eval()
    model = get_peft_model(base, config)
    model.train()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    virtual = getattr(config, "num_virtual_tokens", 0) if name.endswith("prompt_tuning") else 0
    with torch.no_grad():
        for p in params.values():
            p.copy_((torch.randn_like(p) * (0.5 if virtual else 0.05)).to(torch.float16).to(torch.float32))
    path = os.path.join(out_dir, name)
    save_f16(model, path)
    t, ratio = settings["temperature"], settings["ratio"]
    with torch.no_grad(), model.disable_adapter():
        teachers = [teacher_sparse(answer_logits(model, r["teacher_prompt"], r["answer"], 0), t) for r in rows]
    before = {n: p.detach().clone() for n, p in params.items()}
    optimizer = torch.optim.SGD(list(params.values()), lr=1.0)
    total, count = 0, 0
    for r, (ids, probs, rest) in zip(rows, teachers):
        logits = answer_logits(model, r["prompt"], r["answer"], virtual)
        lp = torch.log_softmax(logits / t, dim=-1)
        listed = lp.gather(1, ids).exp()
        bucket = lp.scatter(1, ids, float("-inf")).logsumexp(-1).exp()
        qs = torch.cat([listed, bucket[:, None]], dim=1)
        qt = torch.cat([probs, rest[:, None]], dim=1)
        d = divergence(settings["divergence"], qs, qt, settings["jsd_beta"])
        ce = -torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(r["answer"])[:, None])[:, 0]
        total = total + (ratio * d + (1 - ratio) * ce).sum()
        count += len(r["answer"])
    loss = total / count
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    update = {("prompt_embeddings" if "prompt_encoder" in n else n.replace(".default", "")): (p.detach() - before[n]).contiguous()
              for n, p in params.items()}
    save_file(update, os.path.join(path, "update.safetensors"), metadata={"format": "pt"})
    fixture["kinds"][name] = dict(settings, loss=float(loss))
    print(f"{name}: loss {float(loss):.6f}, update norm {sum(float(u.norm()) ** 2 for u in update.values()) ** 0.5:.6f}")

with open(os.path.join(out_dir, "distill_step.json"), "w") as f:
    json.dump(fixture, f)
