"""The RLHF check of issue 16: a reward model (trained first by preference_check.py --method reward, preferring
"ANSWER: <A+B>" to a rambling answer) scores rollouts of `tessera train --method rlhf` on "What is A plus B?"
prompts; the held-out mean reward at the end must be above the base's (the validation line at step 0), and the run
reports its KL to the base.

Usage: rlhf_check.py TESSERA_BINARY MODEL.gguf WORK_DIR [--algorithm ppo|grpo|rloo] [--steps 12] [--extra "..."]
"""
import argparse
import json
import os
import random
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument("tessera")
parser.add_argument("model")
parser.add_argument("work")
parser.add_argument("--algorithm", default="grpo", choices=["ppo", "grpo", "rloo"])
parser.add_argument("--steps", type=int, default=12)
parser.add_argument("--extra", default="", help="more tessera train flags, space-separated")
args = parser.parse_args()
os.makedirs(args.work, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))

reward_dir = os.path.join(args.work, "reward")
if not os.path.exists(os.path.join(reward_dir, "adapter", "adapter_config.json")):
    subprocess.run([sys.executable, os.path.join(here, "preference_check.py"), args.tessera, args.model, reward_dir,
                    "--method", "reward", "--epochs", "3"], check=True)

rng = random.Random(99)
questions = sorted({f"What is {rng.randint(10, 99)} plus {rng.randint(10, 99)}?" for _ in range(60)})
rng.shuffle(questions)
paths = {}
for name, part in (("prompts", questions[:32]), ("held_out", questions[32:40])):
    paths[name] = os.path.join(args.work, name + ".jsonl")
    with open(paths[name], "w") as f:
        for q in part:
            f.write(json.dumps({"messages": [{"role": "user", "content": q}]}) + "\n")

cmd = [args.tessera, "train", "--model", args.model, "--method", "rlhf", "--rl-algorithm", args.algorithm,
       "--reward-model", os.path.join(reward_dir, "adapter"), "--data", paths["prompts"], "--validation-data",
       paths["held_out"], "--output", os.path.join(args.work, "policy"), "--max-steps", str(args.steps), "--batch-size", "4",
       "--num-generations", "4", "--max-new-tokens", "24", "--learning-rate", "1e-3", "--eval-steps", str(args.steps),
       "--json"] + args.extra.split()
lines = [json.loads(l) for l in subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()]
steps = [l for l in lines if l["event"] == "step"]
validation = [l for l in lines if l["event"] == "validation"]
before, after = validation[0], validation[-1]
for s in steps:
    print(f"step {s['step']}: reward {s['reward']:.3f}, kl {s['kl']:.3f}, entropy {s['entropy']:.3f}, clip {s['clip_fraction']:.3f}")
print(f"held-out mean reward: base {before['reward']:.3f} -> policy {after['reward']:.3f}; KL to the base {after['kl']:.3f}")
ok = after["reward"] > before["reward"]
print("PASS" if ok else "FAIL")
raise SystemExit(0 if ok else 1)
