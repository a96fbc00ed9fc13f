"""The context-distillation check of issue 16: an adapter trained by `tessera train --method distill --teacher-system S`
on questions alone (the teacher, the base reading S, writes the answers) must make the student, which never sees S,
assign the teacher's continuations of held-out questions a NLL at least 30% lower than the base without S does.

The teacher's held-out continuations are greedy (`tessera generate --chat --system S --temperature 0`), those that
finish within --max-new-tokens kept (a small model's greedy text sometimes loops). Their NLL
(mean per answer token, the answer's content and its end-of-turn token, the chat template as in training) is read
from `tessera train`'s validation line after one SGD step at learning rate 0: with a fresh LoRA that is the base's,
with --init-adapter the student's.

Usage: distill_check.py TESSERA_BINARY MODEL.gguf WORK_DIR [--system S] [--rows 64] [--held-out 16] [--epochs 3]
"""
import argparse
import json
import os
import random
import subprocess

parser = argparse.ArgumentParser()
parser.add_argument("tessera")
parser.add_argument("model")
parser.add_argument("work")
parser.add_argument("--system", default="You are a pirate. Begin every answer with 'Arr!' and speak like a pirate.")
parser.add_argument("--rows", type=int, default=64)
parser.add_argument("--held-out", type=int, default=16)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--max-new-tokens", type=int, default=128)
parser.add_argument("--extra", default="", help="more tessera train flags, space-separated")
args = parser.parse_args()

THINGS = ["apple", "river", "mountain", "cat", "ship", "book", "cloud", "bridge", "violin", "garden", "castle", "moon",
          "forest", "train", "island", "candle", "horse", "desert", "piano", "ocean", "lamp", "storm", "city", "bee",
          "clock", "tiger", "road", "winter", "market", "star", "volcano", "bakery"]
FORMS = ["What is a {}?", "Tell me about the {}.", "Describe a {} in one sentence.", "Why do people like the {}?",
         "Where would I find a {}?"]
rng = random.Random(2024)
questions = sorted({f.format(t) for f in FORMS for t in THINGS})
rng.shuffle(questions)
train_q, held_q = questions[:args.rows], questions[args.rows:args.rows + args.held_out]
os.makedirs(args.work, exist_ok=True)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{r.stderr}")
    return r.stdout


train = os.path.join(args.work, "train.jsonl")
with open(train, "w") as f:
    for q in train_q:
        f.write(json.dumps({"messages": [{"role": "user", "content": q}]}) + "\n")
held = os.path.join(args.work, "held_out.jsonl")
with open(held, "w") as f:
    for q in held_q:
        r = subprocess.run([args.tessera, "generate", "--model", args.model, "--chat", "--system", args.system, "--temperature",
                            "0", "--max-tokens", str(args.max_new_tokens), "--stats", q],
                           capture_output=True, text=True, check=True)
        if "finish: stop" in r.stderr:  # a whole answer, which its end-of-turn token closes
            f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": r.stdout.rstrip("\n")}]}) + "\n")
print(f"teacher's held-out answers in {held}")

out = os.path.join(args.work, "adapter")
run([args.tessera, "train", "--model", args.model, "--method", "distill", "--teacher-system", args.system, "--data", train,
     "--output", out, "--epochs", str(args.epochs), "--batch-size", "8", "--learning-rate", "1e-3",
     "--max-new-tokens", str(args.max_new_tokens), "--json"] + args.extra.split())


# The teacher's own NLL of its answers, with S: how low any student could go.
held_system = os.path.join(args.work, "held_out_with_system.jsonl")
with open(held) as f, open(held_system, "w") as g:
    for line in f:
        row = json.loads(line)
        g.write(json.dumps({"messages": [{"role": "system", "content": args.system}] + row["messages"]}) + "\n")


def nll(init, path=held):
    extra = ["--init-adapter", init] if init else []
    lines = run([args.tessera, "train", "--model", args.model, "--method", "sft", "--data", path, "--validation-data", path,
                 "--output", os.path.join(args.work, "probe"), "--max-steps", "1", "--optimizer", "sgd", "--learning-rate",
                 "0", "--eval-steps", "1", "--json"] + extra).splitlines()
    return [json.loads(l) for l in lines if '"validation"' in l][-1]["loss"]


base, student, teacher = nll(None), nll(out), nll(None, held_system)
drop = 1 - student / base
print(f"held-out NLL of the teacher's answers without the system prompt: base {base:.4f}, student {student:.4f} "
      f"({100 * drop:.1f}% lower; needs 30%); the teacher's own, with it: {teacher:.4f} "
      f"(the student closes {100 * (base - student) / max(base - teacher, 1e-9):.0f}% of that gap)")
raise SystemExit(0 if drop >= 0.3 else 1)
