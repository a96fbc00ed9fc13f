"""llama.cpp's BPE pre-tokenizers, read from the vendored src/llama-vocab.cpp (so the fixtures check Tessera's
transcription against the source rather than against a copy): each LLAMA_VOCAB_PRE_TYPE_* with its regex list and
byte encoding, and each `tokenizer.ggml.pre` name with its type and flags. Also a client of pretok_split.cpp, which
runs llama.cpp's own unicode_regex_split. Dev-only.
"""
import re
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LLAMA = ROOT / ".bench/src/llama_cpp_python-0.3.36/vendor/llama.cpp"


def _strip_comments(src):
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("//", i):
            i = src.index("\n", i)
        elif src.startswith("/*", i):
            i = src.index("*/", i) + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


_ESC = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def _unescape(body):
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\":
            out.append(_ESC[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _literals(text):
    return [_unescape(m) for m in re.findall(r'"((?:[^"\\]|\\.)*)"', text)]


def pre_types(llama=LLAMA):
    """{type name without prefix: {"regexes": [...], "byte_encode": bool}}, plus "DEFAULT"."""
    src = _strip_comments((llama / "src/llama-vocab.cpp").read_text())
    start = src.index("struct llm_tokenizer_bpe : llm_tokenizer {")
    body = src[src.index("switch (vocab.get_pre_type())", start):src.index("std::vector<std::string> regex_exprs;", start)]
    types = {}
    pending = []
    for chunk in re.split(r"(case LLAMA_VOCAB_PRE_TYPE_\w+:|default:)", body)[1:]:
        if chunk.startswith("case "):
            pending.append(chunk[len("case LLAMA_VOCAB_PRE_TYPE_"):-1])
            continue
        if chunk == "default:":
            pending.append("DEFAULT")
            continue
        m = re.search(r"regex_exprs = \{(.*?)\};", chunk, re.S)
        if not m:
            continue
        entry = {"regexes": _literals(m.group(1)), "byte_encode": "byte_encode = false" not in chunk}
        for t in pending:
            types[t] = entry
        pending = []
    return types


def pre_names(llama=LLAMA):
    """{tokenizer.ggml.pre: {"type", "clean_spaces", "ignore_merges", "add_bos", "escape_whitespaces"}} for BPE."""
    src = _strip_comments((llama / "src/llama-vocab.cpp").read_text())
    start = src.index("if (type == LLAMA_VOCAB_TYPE_BPE) {")
    end = src.index("} else if (type == LLAMA_VOCAB_TYPE_SPM) {", start)
    body = src[start:end]
    names = {}
    for cond, block in re.findall(r"if \(\s*((?:tokenizer_pre == \"[^\"]+\"\s*(?:\|\|\s*)?)+)\)\s*\{(.*?)\}", body, re.S):
        t = re.search(r"pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);", block).group(1)
        flags = {"type": t, "clean_spaces": True, "ignore_merges": False, "add_bos": False, "escape_whitespaces": False}
        for key in ("clean_spaces", "ignore_merges", "add_bos", "escape_whitespaces"):
            m = re.search(rf"\b{key} = (true|false);", block)
            if m:
                flags[key] = m.group(1) == "true"
        for name in re.findall(r'tokenizer_pre == "([^"]+)"', cond):
            names[name] = flags
    return names


class Splitter:
    """llama.cpp's unicode_regex_split, through pretok_split.cpp compiled against the vendored sources."""

    def __init__(self, llama=LLAMA, binary=Path("/tmp/tessera-pretok-split")):
        src = llama / "src"
        if not binary.exists():
            subprocess.run(["g++", "-O2", "-std=c++17", f"-I{src}", "-o", str(binary),
                            str(Path(__file__).with_name("pretok_split.cpp")), str(src / "unicode.cpp"),
                            str(src / "unicode-data.cpp")], check=True)
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def split(self, text: bytes, regexes, byte_encode=True):
        req = [struct.pack("<I", len(regexes))]
        for r in regexes:
            b = r.encode("utf-8")
            req += [struct.pack("<I", len(b)), b]
        req += [struct.pack("<II", 1 if byte_encode else 0, len(text)), text]
        self.proc.stdin.write(b"".join(req))
        self.proc.stdin.flush()
        (n,) = struct.unpack("<I", self.proc.stdout.read(4))
        if n == 0xFFFFFFFF:
            return None
        pieces = []
        for _ in range(n):
            (k,) = struct.unpack("<I", self.proc.stdout.read(4))
            pieces.append(self.proc.stdout.read(k))
        return pieces


if __name__ == "__main__":
    import json
    print(json.dumps(pre_names(), indent=1))
    for k, v in pre_types().items():
        print(k, v["byte_encode"], [r[:60] for r in v["regexes"]])
