"""The official openai client with a served model of another family (tools/e2e/run serves Gemma 3 270M): chat through
its own chat template (built in when the file has none), streaming and sampling over its 262k-token vocabulary, a
PEFT adapter made for it by peft, and a fine-tuning job on it whose model then answers in the trained format and stops
at the family's end of turn (finish_reason "stop", no turn markers in the text). Exits non-zero on the first failure.

Usage: family_chat_test.py URL KEY PEFT_ADAPTER_DIR"""
import json
import os
import sys
import time
import urllib.request
import uuid

from openai import OpenAI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from learning_check import ROWS, row  # noqa: E402  (the SFT task of the learning check)

URL, KEY, ADAPTER = sys.argv[1:4]
client = OpenAI(base_url=URL + "/v1", api_key=KEY)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


base = client.models.list().data[0].id
check(base.lower().startswith("gemma"), f"the served base is {base}")

messages = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]
chat = client.chat.completions.create(model=base, messages=messages, max_tokens=24, temperature=0)
answer = chat.choices[0].message.content
check(answer and chat.usage.prompt_tokens > 10, f"chat through the model's template ({chat.usage.prompt_tokens} prompt tokens): {answer!r}")
stream = client.chat.completions.create(model=base, messages=messages, max_tokens=24, temperature=0, stream=True)
check("".join(c.choices[0].delta.content or "" for c in stream if c.choices) == answer, "streamed chat equals the plain one")
sampled = client.chat.completions.create(model=base, messages=messages, max_tokens=8, temperature=0.8, top_p=0.9, seed=3, n=2)
check(len(sampled.choices) == 2 and all(c.message.content for c in sampled.choices), "sampled with top_p over the full vocabulary")

# A PEFT adapter made for this base (the adapters API's multipart form): served, then deleted.
boundary = uuid.uuid4().hex
body = b""
for field, filename in [("name", None), ("adapter_config", "adapter_config.json"), ("adapter_model", "adapter_model.safetensors")]:
    data = b"family-e2e" if filename is None else open(os.path.join(ADAPTER, filename), "rb").read()
    disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
    body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
body += f"--{boundary}--\r\n".encode()
request = urllib.request.Request(URL + "/v1/adapters", data=body, method="POST", headers={
    "Authorization": f"Bearer {KEY}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
with urllib.request.urlopen(request) as r:
    check(r.status == 201, f"a peft adapter of this base uploaded ({json.load(r)['kind']})")
adapted = client.chat.completions.create(model="family-e2e", messages=messages, max_tokens=8, temperature=0)
check(adapted.choices[0].message.content != answer, f"chat through it changes the answer: {adapted.choices[0].message.content!r}")
delete = urllib.request.Request(URL + "/v1/adapters/family-e2e", method="DELETE", headers={"Authorization": f"Bearer {KEY}"})
check(json.load(urllib.request.urlopen(delete))["deleted"], "adapter deleted")

# Fine-tuning on this base: the learning check's task (a country, answered "Capital: X. Continent: Y.").
train = "".join(json.dumps(row(*r)) + "\n" for r in ROWS[:48]).encode()
file = client.files.create(file=("capitals.jsonl", train), purpose="fine-tune")
started = time.time()
job = client.fine_tuning.jobs.create(model=base, training_file=file.id, suffix="capitals", seed=1,
                                     method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 8}}},
                                     extra_body={"adapter": {"type": "lora", "rank": 4, "alpha": 32, "target_modules": ["q_proj", "v_proj"]}})
while job.status not in ("succeeded", "failed", "cancelled") and time.time() - started < 900:
    time.sleep(1)
    job = client.fine_tuning.jobs.retrieve(job.id)
check(job.status == "succeeded", f"a supervised job on {base} {job.status} in {time.time() - started:.0f} s"
      + (f": {job.error.message}" if job.error else ""))
right = 0
for country, capital, continent in ROWS[48:54]:
    r = client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": f"Country: {country}"}],
                                       max_tokens=24, temperature=0)
    text, finish = r.choices[0].message.content, r.choices[0].finish_reason
    check(finish == "stop" and "<end_of_turn>" not in text and "<start_of_turn>" not in text,
          f"the fine-tuned model stops at its end of turn: {text!r} ({finish})")
    right += text.startswith("Capital: ") and "Continent: " in text
check(right >= 5, f"{right} of 6 held-out answers in the trained format")
