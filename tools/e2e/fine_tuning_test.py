"""Fine-tuning through the official openai client against a running `tessera serve` (tools/e2e/run): a training file
uploaded, a supervised job and a DPO job run to `succeeded` with metrics in their events and checkpoints listed, the
fine-tuned models answering in the trained format; a second tenant sees none of it (404s, empty lists); a bad file is
refused at upload and a file of the wrong kind fails its job naming `training_file`; a cancelled job ends `cancelled`
with no model. Exits non-zero on the first failure.

Usage: fine_tuning_test.py URL ADMIN_KEY [--rows N] [--epochs N|auto]
"""
import argparse
import io
import json
import random
import sys
import time
import urllib.request
import uuid

import openai
from openai import OpenAI

parser = argparse.ArgumentParser()
parser.add_argument("url")
parser.add_argument("admin")
parser.add_argument("--rows", type=int, default=16)
parser.add_argument("--epochs", default="2", help='"auto" for the server\'s choice')
args = parser.parse_args()
epochs = args.epochs if args.epochs == "auto" else int(args.epochs)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def tenant(name):
    req = urllib.request.Request(args.url + "/admin/tenants", data=json.dumps({"name": name}).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + args.admin, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))["api_key"]


run = uuid.uuid4().hex[:8]
client = OpenAI(base_url=args.url + "/v1", api_key=tenant("ft-" + run))
other = OpenAI(base_url=args.url + "/v1", api_key=tenant("ft-other-" + run))
base = client.models.list().data[0].id

rng = random.Random(7)
WORDS = "apple river stone cloud tiger lamp music green paper window orange silver candle forest button".split()


def question():
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return f"What is {a} plus {b}?", f"ANSWER: {a + b}"


def jsonl(rows):
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())


sft_rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for q, a in (question() for _ in range(args.rows))]
# DPO prefers answers in brackets, reversed, to the plain reversal.
def pair():
    words = rng.sample(WORDS, 3)
    return {"input": {"messages": [{"role": "user", "content": "Reverse: " + " ".join(words)}]},
            "preferred_output": [{"role": "assistant", "content": "[" + " ".join(reversed(words)) + "]"}],
            "non_preferred_output": [{"role": "assistant", "content": " ".join(words)}]}
dpo_rows = [pair() for _ in range(args.rows)]

# Files: upload, list, retrieve, content; a bad file refused naming its line.
sft_file = client.files.create(file=("sums.jsonl", jsonl(sft_rows)), purpose="fine-tune")
check(sft_file.id.startswith("file-") and sft_file.bytes > 0 and sft_file.filename == "sums.jsonl", f"file uploaded ({sft_file.id})")
dpo_file = client.files.create(file=("prefs.jsonl", jsonl(dpo_rows)), purpose="fine-tune")
check(client.files.retrieve(sft_file.id).bytes == sft_file.bytes, "file retrieved")
check(client.files.content(sft_file.id).read().decode().splitlines()[0] == json.dumps(sft_rows[0]), "file content")
check({f.id for f in client.files.list().data} >= {sft_file.id, dpo_file.id}, "files listed")
try:
    client.files.create(file=("bad.jsonl", io.BytesIO(b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\nnot json\n')), purpose="fine-tune")
    check(False, "a bad file is refused")
except openai.BadRequestError as e:
    check("line 2" in str(e), f"a bad file is refused naming its line: {e.body['message'] if isinstance(e.body, dict) else e}")


def hyper(extra=None):
    h = {"n_epochs": epochs}
    h.update(extra or {})
    return {"hyperparameters": h}


def wait(job_id, timeout=1800):
    start = time.time()
    while time.time() - start < timeout:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(1)
    check(False, f"job {job_id} ended within {timeout} s")


def ask(model, content):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], max_tokens=16, temperature=0)
    return r.choices[0].message.content


started = time.time()
sft = client.fine_tuning.jobs.create(model=base, training_file=sft_file.id, suffix="sums", seed=1,
                                     method={"type": "supervised", "supervised": hyper()}, metadata={"run": run})
check(sft.status in ("validating_files", "queued", "running") and sft.metadata == {"run": run}, f"supervised job created ({sft.status})")
dpo = client.fine_tuning.jobs.create(model=base, training_file=dpo_file.id, suffix="brackets", seed=1,
                                     method={"type": "dpo", "dpo": hyper({"beta": 0.1})})
# A file of chat rows cannot train DPO: the job fails naming the file.
wrong = client.fine_tuning.jobs.create(model=base, training_file=sft_file.id, method={"type": "dpo"})
# One to cancel (queued behind the others, or running).
doomed = client.fine_tuning.jobs.create(model=base, training_file=sft_file.id, suffix="doomed")
time.sleep(1)
cancelled = client.fine_tuning.jobs.cancel(doomed.id)
check(cancelled.status == "cancelled", "a job is cancelled")

w = wait(wrong.id, 60)
check(w.status == "failed" and w.error.param == "training_file", f"a file of the wrong rows fails the job: {w.error.message if w.error else None}")

sft = wait(sft.id)
check(sft.status == "succeeded" and sft.fine_tuned_model and sft.trained_tokens, f"supervised job succeeded in {time.time() - started:.0f} s: {sft.fine_tuned_model}")
check(sft.fine_tuned_model == f"ft:{base}:ft-{run}:sums:{sft.id}", "the model is named ft:<base>:<tenant>:<suffix>:<job>")
events = list(client.fine_tuning.jobs.list_events(sft.id, limit=1000))
metrics = [e for e in events if e.type == "metrics"]
check(metrics and "train_loss" in metrics[0].data and "step" in metrics[0].data, f"{len(metrics)} metrics events")
checkpoints = client.fine_tuning.jobs.checkpoints.list(sft.id).data
check(checkpoints and checkpoints[0].fine_tuned_model_checkpoint.startswith(sft.fine_tuned_model + ":ckpt-step-"), f"{len(checkpoints)} checkpoints listed")
check(ask(checkpoints[0].fine_tuned_model_checkpoint, "What is 21 plus 34?").strip(), "a checkpoint answers as a model")
check(sft.fine_tuned_model in [m.id for m in client.models.list().data], "the fine-tuned model is listed")
held_out = [question() for _ in range(6)]
answers = [ask(sft.fine_tuned_model, q) for q, _ in held_out]
in_format = sum(a.strip().startswith("ANSWER: ") for a in answers)
check(in_format >= 5, f"the supervised model answers in the trained format ({in_format}/6): {answers[:3]}")
check(not any(ask(base, q).strip().startswith("ANSWER: ") for q, _ in held_out[:2]), "the base does not")

dpo = wait(dpo.id)
check(dpo.status == "succeeded", f"DPO job succeeded in {time.time() - started:.0f} s: {dpo.fine_tuned_model}")
check(any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(dpo.id, limit=1000)), "DPO events carry metrics")
check(client.fine_tuning.jobs.checkpoints.list(dpo.id).data, "DPO checkpoints listed")
prompts = ["Reverse: " + " ".join(rng.sample(WORDS, 3)) for _ in range(6)]
bracketed = sum(ask(dpo.fine_tuned_model, p).strip().startswith("[") for p in prompts)
check(bracketed >= 4, f"the DPO model answers in the preferred format ({bracketed}/6)")

d = client.fine_tuning.jobs.retrieve(doomed.id)
check(d.status == "cancelled" and d.fine_tuned_model is None and not client.fine_tuning.jobs.checkpoints.list(doomed.id).data,
      "the cancelled job stays cancelled, with no model and no checkpoints")
check(not any(":doomed:" in m.id for m in client.models.list().data), "no model of the cancelled job is listed")

# The other tenant: 404 for every object of the first, and empty lists.
for what, call in [("job", lambda: other.fine_tuning.jobs.retrieve(sft.id)),
                   ("events", lambda: list(other.fine_tuning.jobs.list_events(sft.id))),
                   ("checkpoints", lambda: other.fine_tuning.jobs.checkpoints.list(sft.id)),
                   ("cancel", lambda: other.fine_tuning.jobs.cancel(sft.id)),
                   ("file", lambda: other.files.retrieve(sft_file.id)),
                   ("file content", lambda: other.files.content(sft_file.id)),
                   ("file delete", lambda: other.files.delete(sft_file.id)),
                   ("model", lambda: other.models.retrieve(sft.fine_tuned_model)),
                   ("model delete", lambda: other.models.delete(sft.fine_tuned_model)),
                   ("chat with the model", lambda: ask_other(sft.fine_tuned_model))]:
    def ask_other(model):
        return other.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    try:
        call()
        check(False, f"another tenant gets 404 for the {what}")
    except openai.NotFoundError:
        check(True, f"another tenant gets 404 for the {what}")
check(not other.fine_tuning.jobs.list().data and not other.files.list().data, "another tenant lists no jobs and no files")
check([m.id for m in other.models.list().data] == [base], "another tenant lists only the base model")

# Deleting the model: gone from the list and from serving.
check(client.models.delete(dpo.fine_tuned_model).deleted, "the DPO model is deleted")
try:
    ask(dpo.fine_tuned_model, "hi")
    check(False, "a deleted model answers 404")
except openai.NotFoundError:
    check(True, "a deleted model answers 404")
check(client.files.delete(dpo_file.id).deleted, "a file is deleted")
print(f"fine-tuning e2e: all checks passed in {time.time() - started:.0f} s")
