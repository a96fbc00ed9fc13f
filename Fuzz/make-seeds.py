"""Writes the seed corpora of the fuzz targets (Fuzz/corpus/TARGET/): small real inputs of every kind, made from the
committed test fixtures. Rerun after a format changes; the seeds are committed.
Usage: python3 Fuzz/make-seeds.py"""
import io
import json
import os
import struct
import subprocess
import tarfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
fixtures = os.path.join(root, "Tests/TesseraAdaptersTests/Fixtures")


def write(target, name, data):
    with open(os.path.join(here, "corpus", target, name), "wb") as f:
        f.write(data)


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(tensors, kvs):
    """A GGUF v3 file: kvs as (key, type, payload bytes); tensors as (name, dims, ggml type, data)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, vtype, payload in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + payload
    offset = 0
    infos, blobs = b"", b""
    for name, dims, ttype, data in tensors:
        infos += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ttype, offset)
        pad = (-len(data)) % 32
        blobs += data + b"\0" * pad
        offset += len(data) + pad
    out += infos
    out += b"\0" * ((-len(out)) % 32)
    return out + blobs


q8 = struct.pack("<e", 0.5) + bytes(range(32))  # one Q8_0 block
f32 = struct.pack("<8f", *[i / 8 for i in range(8)])
kvs = [("general.architecture", 8, gguf_string("llama")), ("general.alignment", 4, struct.pack("<I", 32)),
       ("llama.context_length", 4, struct.pack("<I", 64)),
       ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + gguf_string("a") + gguf_string("b") + gguf_string("ab"))]
write("gguf", "two-tensors.gguf", gguf([("norm.weight", [8], 0, f32), ("w.weight", [32, 1], 8, q8)], kvs))
write("gguf", "metadata-only.gguf", gguf([], kvs[:2]))

for kind in ["prompt_tuning", "p_tuning"]:
    write("safetensors", kind + ".safetensors", open(os.path.join(fixtures, kind, "adapter_model.safetensors"), "rb").read())
header = json.dumps({"t": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}, "__metadata__": {"format": "pt"}}).encode()
write("safetensors", "tiny-f16.safetensors", struct.pack("<Q", len(header)) + header + struct.pack("<4e", 1, 2, 3, 4))


def peft_tar(kind, folder):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name in ["adapter_config.json", "adapter_model.safetensors"]:
            t.add(os.path.join(fixtures, kind, name), arcname=(folder + "/" if folder else "") + name)
    return buf.getvalue()


for kind, folder in [("prompt_tuning", ""), ("p_tuning", "adapter")]:
    archive = peft_tar(kind, folder)
    write("tar", kind + ".tar", archive)
    write("upload", kind + ".tar", archive)
    write("upload", kind + ".tar.zst", subprocess.run(["zstd", "-q", "-c"], input=archive, capture_output=True, check=True).stdout)

config = open(os.path.join(fixtures, "prompt_tuning", "adapter_config.json"), "rb").read()
body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nmy-adapter\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"adapter_config\"; filename=\"adapter_config.json\"\r\n"
        b"Content-Type: application/json\r\n\r\n" + config + b"\r\n--XyZ--\r\n")
write("multipart", "two-fields", b"multipart/form-data; boundary=XyZ\n" + body)
write("multipart", "quoted-boundary", b'multipart/form-data; boundary="XyZ"\n' + body)

requests = {
    "completion": {"model": "m", "prompt": "Hello", "max_tokens": 8, "temperature": 0.5, "stop": ["\n"], "logprobs": 2, "echo": True},
    "completion-tokens": {"model": "m", "prompt": [[1, 2, 3], [4]], "n": 2, "seed": 7, "stream": True, "stream_options": {"include_usage": True}},
    "chat": {"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
             "max_completion_tokens": 5, "logprobs": True, "top_logprobs": 2, "adapters": [{"name": "a", "weight": 0.5}]},
    "chat-parts": {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "top_k": 5, "min_p": 0.1},
    "admin": {"name": "t", "weight": 2, "requests_per_minute": None, "max_tokens": 64},
}
for name, body in requests.items():
    write("requests", name + ".json", json.dumps(body).encode())

templates = json.load(open(os.path.join(root, "Tests/TesseraTokenizerTests/Fixtures/templates.json")))
for i, t in enumerate({t["template"] for t in templates}):
    write("jinja", f"template-{i}.jinja", t.encode())

lines = [json.loads(l)["text"] for l in open(os.path.join(root, "Tests/TesseraTokenizerTests/Fixtures/tokenizer.jsonl"))]
for i, text in enumerate(lines[::25]):
    write("tokenizer", f"text-{i}.txt", text.encode())
