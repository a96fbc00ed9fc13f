"""What the live-server tools (tools/crash, tools/soak) share: a free port, one HTTP call with a tenant or admin key,
and a PEFT adapter from the test fixtures as a multipart upload. Standard library only."""
import os
import socket
import urllib.error
import urllib.request
import uuid

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../Tests/TesseraAdaptersTests/Fixtures")
KINDS = ["lora", "lora_patterns", "dora", "prompt_tuning", "p_tuning", "prefix_tuning"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, key, body=None, content_type="application/json", timeout=30):
    """(status, body bytes); HTTP errors are answers too. Connection failures raise."""
    req = urllib.request.Request(base + path, data=body, method=method,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def multipart(name, kind):
    """(body, content type) uploading fixture adapter `kind` as `name` to /v1/adapters."""
    boundary = uuid.uuid4().hex
    d = os.path.join(FIXTURES, kind)
    body = b""
    for field, value, filename in [("name", name.encode(), None),
                                   ("adapter_config", open(os.path.join(d, "adapter_config.json"), "rb").read(), "adapter_config.json"),
                                   ("adapter_model", open(os.path.join(d, "adapter_model.safetensors"), "rb").read(), "adapter_model.safetensors")]:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
