"""The official openai client against a running `tessera serve` (see tools/e2e/run): completions, chat, streaming
with usage, logprobs, an adapter uploaded then used then deleted, and errors. Exits non-zero on the first failure."""
import json
import os
import sys
import time
import urllib.request
import uuid

import openai
from openai import OpenAI

URL, KEY, ADMIN, FIXTURES = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
client = OpenAI(base_url=URL + "/v1", api_key=KEY)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


models = client.models.list().data
base = models[0].id
check(base.startswith("SmolLM2"), f"models list the base first ({base})")

c = client.completions.create(model=base, prompt="The capital of France is", max_tokens=8, temperature=0, logprobs=2)
check(c.choices[0].text and c.usage.completion_tokens > 0, f"completion: {c.choices[0].text!r}")
check(len(c.choices[0].logprobs.token_logprobs) == c.usage.completion_tokens, "completion logprobs per token")

messages = [{"role": "user", "content": "What is the capital of France?"}]
chat = client.chat.completions.create(model=base, messages=messages, max_tokens=24, temperature=0, logprobs=True, top_logprobs=2)
answer = chat.choices[0].message.content
check("Paris" in answer, f"chat: {answer!r}")
check(len(chat.choices[0].logprobs.content[0].top_logprobs) == 2, "chat top_logprobs")

stream = client.chat.completions.create(model=base, messages=messages, max_tokens=24, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
parts, usage = [], None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage
check("".join(parts) == answer, "streamed chat equals the plain one")
check(usage is not None and usage.total_tokens == chat.usage.total_tokens, "stream usage")


# A client that goes away cancels its request: the engine stops computing it.
long = client.completions.create(model=base, prompt="Count:", max_tokens=2000, stream=True, extra_body={"ignore_eos": True})
for i, _ in enumerate(long):
    if i == 2:
        break
long.close()
for _ in range(100):
    metrics = urllib.request.urlopen(URL + "/metrics").read().decode()
    if "vllm:num_requests_running 0" in metrics:
        break
    time.sleep(0.05)
check("vllm:num_requests_running 0" in metrics, "a disconnected stream is cancelled")


def upload(name, key, directory):
    boundary = uuid.uuid4().hex
    body = b""
    fields = [("name", name.encode(), None),
              ("adapter_config", open(os.path.join(directory, "adapter_config.json"), "rb").read(), "adapter_config.json"),
              ("adapter_model", open(os.path.join(directory, "adapter_model.safetensors"), "rb").read(), "adapter_model.safetensors")]
    for field, data, filename in fields:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(URL + "/v1/adapters", data=body, method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


status, info = upload("e2e-lora", KEY, os.path.join(FIXTURES, "lora"))
check(status == 201 and info["kind"] == "LORA", f"adapter uploaded ({status})")
check([m.id for m in client.models.list().data] == [base, "e2e-lora"], "the adapter is listed with the base")
a = client.completions.create(model="e2e-lora", prompt="The capital of France is", max_tokens=8, temperature=0)
check(a.choices[0].text != c.choices[0].text, f"the adapter changes the output: {a.choices[0].text!r}")

# A second tenant sees none of it.
req = urllib.request.Request(URL + "/admin/tenants", data=json.dumps({"name": "e2e-other"}).encode(), method="POST",
                             headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
other = OpenAI(base_url=URL + "/v1", api_key=json.load(urllib.request.urlopen(req))["api_key"])
check([m.id for m in other.models.list().data] == [base], "another tenant does not see the adapter")
try:
    other.completions.create(model="e2e-lora", prompt="hi", max_tokens=2)
    check(False, "another tenant cannot use the adapter")
except openai.NotFoundError:
    check(True, "another tenant cannot use the adapter (404)")

req = urllib.request.Request(URL + "/v1/adapters/e2e-lora", method="DELETE", headers={"Authorization": f"Bearer {KEY}"})
check(json.load(urllib.request.urlopen(req))["deleted"], "adapter deleted")
for what, call, error in [
    ("deleted adapter", lambda: client.completions.create(model="e2e-lora", prompt="hi", max_tokens=2), openai.NotFoundError),
    ("unknown model", lambda: client.chat.completions.create(model="nope", messages=messages), openai.NotFoundError),
    ("huge max_tokens", lambda: client.completions.create(model=base, prompt="hi", max_tokens=10**9), openai.BadRequestError),
    ("bad temperature", lambda: client.completions.create(model=base, prompt="hi", temperature=-3), openai.BadRequestError),
    ("bad key", lambda: OpenAI(base_url=URL + "/v1", api_key="sk-wrong").models.list(), openai.AuthenticationError),
]:
    try:
        call()
        check(False, what)
    except error as e:
        check(True, f"{what}: {type(e).__name__} {e.status_code}")
print("all passed")
