"""The official openai client chatting with a served model of another family (tools/e2e/run serves Gemma 3 270M):
its own chat template renders the turns, generation stops at the family's end of turn (finish_reason "stop", no
marker in the text), streaming gives the same text, and a PEFT adapter made for that base serves. Exits non-zero on
the first failure.

Usage: family_chat_test.py URL KEY ADMIN_KEY EXPECTED_MODEL_PREFIX [ADAPTER_DIR]"""
import json
import os
import sys
import urllib.request
import uuid

from openai import OpenAI

URL, KEY, ADMIN, PREFIX = sys.argv[1:5]
ADAPTER = sys.argv[5] if len(sys.argv) > 5 else None
client = OpenAI(base_url=URL + "/v1", api_key=KEY)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


base = client.models.list().data[0].id
check(base.lower().startswith(PREFIX.lower()), f"the served base is {base}")

messages = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]
chat = client.chat.completions.create(model=base, messages=messages, max_tokens=48, temperature=0)
answer = chat.choices[0].message.content
check("Paris" in answer, f"chat through the model's template: {answer!r}")
check(chat.choices[0].finish_reason == "stop", f"generation stopped at the end of turn ({chat.choices[0].finish_reason})")
check("<end_of_turn>" not in answer and "<start_of_turn>" not in answer, "no turn markers in the text")

stream = client.chat.completions.create(model=base, messages=messages, max_tokens=48, temperature=0, stream=True)
text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
check(text == answer, "streamed chat equals the plain one")

sampled = client.chat.completions.create(model=base, messages=messages, max_tokens=16, temperature=0.8, top_p=0.9, seed=3, n=2)
check(len(sampled.choices) == 2 and all(c.message.content for c in sampled.choices), "sampled with top_p over the full vocabulary")

if ADAPTER:
    # Upload a PEFT directory made for this base (the adapters API's multipart form), chat through it, delete it.
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
        check(r.status == 201, f"an adapter of this base uploaded ({json.load(r)['kind']})")
    adapted = client.chat.completions.create(model="family-e2e", messages=messages, max_tokens=8, temperature=0)
    check(adapted.choices[0].message.content is not None, f"chat through it: {adapted.choices[0].message.content!r}")
    delete = urllib.request.Request(URL + "/v1/adapters/family-e2e", method="DELETE", headers={"Authorization": f"Bearer {KEY}"})
    check(json.load(urllib.request.urlopen(delete))["deleted"], "adapter deleted")
