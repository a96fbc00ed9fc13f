"""The DPO and reward-model checks of issue 16 on a synthetic preference. DPO (`--method dpo`): a LoRA trained by
`tessera train --method dpo` must rank held-out pairs correctly, the policy's log-likelihood gain over the reference
(the base) larger for the chosen answer than for the rejected one, for at least three of four; the held-out pairs go
in as --validation-data, whose last `validation` line reports `rewards_accuracy` (that share) and `rewards_margin`.
A reward model (`--method reward`) must score the chosen answer higher for at least 80% of the held-out pairs (its
validation line's `accuracy` and `margin`).

The task: "What is A plus B?" preferring "ANSWER: <A+B>" to a rambling "Well, I think it is <A+B>." (or, with --task
sum, the right sum to a wrong one). Rows are seeded; training and held-out questions never overlap.

Usage: preference_check.py TESSERA_BINARY MODEL.gguf WORK_DIR [--method dpo|reward] [--task format|sum] [--rows 48]
       [--held-out 16] [--epochs 2]
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
parser.add_argument("--method", default="dpo", choices=["dpo", "reward"])
parser.add_argument("--task", default="format", choices=["format", "sum"])
parser.add_argument("--rows", type=int, default=48)
parser.add_argument("--held-out", type=int, default=16)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--extra", default="", help="more tessera train flags, space-separated")
args = parser.parse_args()


def pair(rng):
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    question = f"What is {a} plus {b}?"
    if args.task == "format":
        return question, f"ANSWER: {a + b}", f"Well, I think it is {a + b}."
    return question, f"ANSWER: {a + b}", f"ANSWER: {a + b + rng.choice([-10, -2, -1, 1, 2, 10])}"


rng = random.Random(4321)
seen, rows = set(), []
while len(rows) < args.rows + args.held_out:
    q, chosen, rejected = pair(rng)
    if q not in seen:
        seen.add(q)
        rows.append((q, chosen, rejected))
os.makedirs(args.work, exist_ok=True)


def write(name, part):
    path = os.path.join(args.work, name)
    with open(path, "w") as f:
        for q, c, r in part:
            f.write(json.dumps({"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": c}],
                                "rejected": [{"role": "assistant", "content": r}]}) + "\n")
    return path


train, held = write("train.jsonl", rows[:args.rows]), write("held_out.jsonl", rows[args.rows:])
out = os.path.join(args.work, "adapter")
cmd = [args.tessera, "train", "--model", args.model, "--method", args.method, "--data", train, "--validation-data", held,
       "--output", out, "--epochs", str(args.epochs), "--batch-size", "4", "--learning-rate", "5e-4", "--beta", "0.1",
       "--eval-steps", "1000", "--json"] + args.extra.split()
lines = [json.loads(l) for l in subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()]
steps = [l for l in lines if l["event"] == "step"]
validation = [l for l in lines if l["event"] == "validation"][-1]
accuracy, margin = ("rewards_accuracy", "rewards_margin") if args.method == "dpo" else ("accuracy", "margin")
print(f"{len(steps)} steps, train loss {steps[0]['loss']:.4f} -> {steps[-1]['loss']:.4f}; held-out pairs: "
      f"{validation[accuracy] * args.held_out:.0f}/{args.held_out} ranked correctly, mean margin "
      f"{validation[margin]:.3f}, loss {validation['loss']:.4f} (ln 2 = 0.6931 before training)")
ok = validation[accuracy] >= (0.75 if args.method == "dpo" else 0.8)
print("PASS" if ok else "FAIL")
raise SystemExit(0 if ok else 1)
