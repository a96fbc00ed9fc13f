"""One DPO SGD step in fp32 with transformers + peft on the default model (DESIGN 5), TRL's sigmoid loss:
-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), mean over pairs, where pi and ref are the sums of the answer
tokens' log-probabilities under the adapter and under the base with the adapter off (peft's disable_adapter, TRL's
reference when no ref_model is given). The trainer's update from the same adapter on the same pairs must match it.

Kinds: a LoRA and a prompt-tuning adapter with random non-zero weights, saved in F16 (the reference starts from
exactly those rounded values). Pairs share a prompt; each answer's content and its <|im_end|> are its trained tokens.
Writes OUT_DIR/dpo_<kind>/ (the adapter and update.safetensors) and OUT_DIR/dpo_step.json (pairs, beta, losses).

Usage: dpo_step_fixtures.py MODEL.gguf OUT_DIR
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from peft import LoraConfig, PromptTuningConfig, TaskType, get_peft_model
from safetensors.torch import save_file
from peft_fixture import save_f16
from transformers import AutoModelForCausalLM, AutoTokenizer

BETA = 0.1
PAIRS = [
    ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", "Paris.", "It is Lyon, I believe."),
    ("<|im_start|>user\nAdd 2 and 3.<|im_end|>\n<|im_start|>assistant\n", "2 + 3 = 5", "6"),
    ("<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nColour of the sky?<|im_end|>\n<|im_start|>assistant\n",
     "Blue.", "The sky is usually blue during the day."),
]
KINDS = {
    "dpo_lora": LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "up_proj"]),
    "dpo_prompt_tuning": PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3),
}

model_path, out_dir = sys.argv[1], sys.argv[2]
folder, file = os.path.dirname(os.path.abspath(model_path)), os.path.basename(model_path)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)


def tokenize(text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def sequence(prompt, answer):
    """Prompt ids, then the answer's and <|im_end|>'s, trained; the newline after it closes the turn untrained."""
    p, a = tokenize(prompt), tokenize(answer + "<|im_end|>")
    return p + a + tokenize("\n"), [0.0] * len(p) + [1.0] * len(a) + [0.0]


pairs = [(sequence(p, c), sequence(p, r)) for p, c, r in PAIRS]
fixture = {"beta": BETA, "pairs": [{"chosen": {"tokens": c[0], "weights": c[1]}, "rejected": {"tokens": r[0], "weights": r[1]}}
                                   for c, r in pairs], "kinds": {}}


def logp(model, ids, weights, virtual):
    logits = model(input_ids=torch.tensor([ids])).logits[0][virtual:]
    lp = torch.log_softmax(logits[:-1], dim=-1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return (torch.tensor(weights[1:]) * lp).sum()


for seed, (name, config) in enumerate(KINDS.items()):
    torch.manual_seed(300 + seed)
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
    with torch.no_grad(), model.disable_adapter():
        reference = [(logp(model, *c, 0), logp(model, *r, 0)) for c, r in pairs]
    before = {n: p.detach().clone() for n, p in params.items()}
    optimizer = torch.optim.SGD(list(params.values()), lr=1.0)
    losses = []
    for (c, r), (rc, rr) in zip(pairs, reference):
        z = BETA * ((logp(model, *c, virtual) - rc) - (logp(model, *r, virtual) - rr))
        losses.append(-F.logsigmoid(z))
    loss = torch.stack(losses).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    update = {("prompt_embeddings" if "prompt_encoder" in n else n.replace(".default", "")): (p.detach() - before[n]).contiguous()
              for n, p in params.items()}
    save_file(update, os.path.join(path, "update.safetensors"), metadata={"format": "pt"})
    fixture["kinds"][name] = {"loss": float(loss), "reference": [[float(a), float(b)] for a, b in reference]}
    print(f"{name}: loss {float(loss):.6f}, update norm {sum(float(u.norm()) ** 2 for u in update.values()) ** 0.5:.6f}")

with open(os.path.join(out_dir, "dpo_step.json"), "w") as f:
    json.dump(fixture, f)
