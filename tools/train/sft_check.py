"""The SFT check of DESIGN 5 on a synthetic task: a LoRA trained by `tessera train` on chat rows of a format the base
does not follow must lower the held-out loss (measured by peft on the exported adapter, in fp32) by more than half,
and `tessera generate --adapter` must answer held-out questions in the trained format.

The task: "What is A plus B?" answered as "ANSWER: <A+B>" (or, with --task reverse, "Reverse: w1 w2 w3" answered as
the words reversed in brackets). Rows are seeded; training and held-out questions never overlap.

Usage: sft_check.py TESSERA_BINARY MODEL.gguf WORK_DIR [--task sum|reverse] [--rows 64] [--epochs 3] [--python PY]
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument("tessera")
parser.add_argument("model")
parser.add_argument("work")
parser.add_argument("--task", default="sum", choices=["sum", "reverse"])
parser.add_argument("--rows", type=int, default=64)
parser.add_argument("--held-out", type=int, default=16)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--extra", default="", help="more tessera train flags, space-separated")
args = parser.parse_args()

WORDS = "apple river stone cloud tiger lamp music green paper window orange silver candle forest button".split()


def example(rng):
    if args.task == "sum":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        return f"What is {a} plus {b}?", f"ANSWER: {a + b}"
    words = rng.sample(WORDS, 3)
    return "Reverse: " + " ".join(words), "[" + " ".join(reversed(words)) + "]"


def expected_format(answer):
    return re.fullmatch(r"ANSWER: \d+" if args.task == "sum" else r"\[\w+ \w+ \w+\]", answer.strip()) is not None


rng = random.Random(1234)
seen, rows = set(), []
while len(rows) < args.rows + args.held_out:
    q, a = example(rng)
    if q not in seen:
        seen.add(q)
        rows.append((q, a))
train, held = rows[:args.rows], rows[args.rows:]
os.makedirs(args.work, exist_ok=True)


def write(path, part):
    with open(path, "w") as f:
        for q, a in part:
            f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n")


write(os.path.join(args.work, "train.jsonl"), train)
write(os.path.join(args.work, "held.jsonl"), held)
adapter = os.path.join(args.work, "adapter")
subprocess.run([args.tessera, "train", "--model", args.model, "--method", "sft", "--data",
                os.path.join(args.work, "train.jsonl"), "--validation-data", os.path.join(args.work, "held.jsonl"),
                "--output", adapter, "--epochs", str(args.epochs), "--batch-size", "4", "--learning-rate", "1e-3",
                "--eval-steps", "1000"] + args.extra.split(), check=True)

# Held-out loss under peft, fp32: base, then base + the exported adapter.
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

folder, name = os.path.dirname(os.path.abspath(args.model)), os.path.basename(args.model)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()


def held_loss(model):
    total, count = 0.0, 0
    for q, a in held:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t = tokenizer(a + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = torch.tensor([p + t])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], dim=-1)
        targets = ids[0, 1:]
        nll = -logp.gather(1, targets[:, None])[:, 0][len(p) - 1:]
        total += float(nll.sum())
        count += len(t)
    return total / count


before = held_loss(base)
after = held_loss(PeftModel.from_pretrained(base, adapter).eval())
print(f"held-out loss (peft, fp32): base {before:.3f}, adapter {after:.3f} ({after / before:.2f}x)")

follows = 0
for q, a in held:
    out = subprocess.run([args.tessera, "generate", "--model", args.model, "--adapter", adapter, "--chat",
                          "--temperature", "0", "--max-tokens", "24", q], check=True, capture_output=True, text=True).stdout
    ok = expected_format(out)
    follows += ok
    print(f"  {q!r} -> {out.strip()!r} (expected {a!r}){'' if ok else '  <- not the format'}")
print(f"format followed on {follows}/{len(held)} held-out questions")
ok = after < before / 2 and follows >= len(held) * 3 // 4
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
