"""Writes a small GGUF holding one tensor of every supported type, filled with random blocks, and the values the
`gguf` package dequantizes them to. Tessera's reader must produce the same numbers.

Output: Tests/TesseraFormatsTests/Fixtures/quants.gguf and quants.json ({name: {"type", "shape", "values"}}).
"""
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

out = Path(sys.argv[1])
rng = np.random.default_rng(1234)
ROWS = 3


def fp16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def random_blocks(qtype, nblocks):
    """Random payload bytes with the fp16 scale fields set to sane values (random bits could be NaN)."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(nblocks, type_size), dtype=np.uint8)
    scales = lambda n: fp16_bytes(rng.uniform(-0.05, 0.05, size=(nblocks, n))).reshape(nblocks, 2 * n)
    if qtype in (T.Q4_0, T.Q8_0, T.Q5_0, T.IQ4_NL):
        raw[:, 0:2] = scales(1)
    elif qtype in (T.Q4_1, T.Q5_1, T.Q4_K, T.Q5_K):
        raw[:, 0:4] = scales(2)
    elif qtype == T.Q6_K:
        raw[:, 208:210] = scales(1)
    return raw


writer = gguf.GGUFWriter(str(out / "quants.gguf"), arch="test")
expected = {}
for qtype, cols in [(T.F32, 40), (T.F16, 40), (T.BF16, 40), (T.Q8_0, 96), (T.Q4_0, 96), (T.Q4_1, 96),
                    (T.Q5_0, 96), (T.Q5_1, 96), (T.IQ4_NL, 96), (T.Q4_K, 512), (T.Q5_K, 512), (T.Q6_K, 512)]:
    name = f"t_{qtype.name.lower()}"
    if qtype == T.F32:
        data = rng.standard_normal((ROWS, cols)).astype(np.float32)
        writer.add_tensor(name, data)
        values = data
    elif qtype == T.F16:
        data = rng.standard_normal((ROWS, cols)).astype(np.float16)
        writer.add_tensor(name, data)
        values = data.astype(np.float32)
    else:
        block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
        if qtype == T.BF16:
            f = rng.standard_normal((ROWS, cols)).astype(np.float32)
            raw = (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(ROWS, cols * 2)
        else:
            raw = random_blocks(qtype, ROWS * cols // block_size).reshape(ROWS, cols // block_size * type_size)
        writer.add_tensor(name, raw, raw_dtype=qtype)
        values = dequantize(raw, qtype)
    expected[name] = {"type": qtype.name, "shape": [ROWS, cols],
                      "values": [float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]}

writer.add_string("test.string", "héllo")
writer.add_array("test.array", [1, 2, 3])
writer.add_bool("test.bool", True)
writer.add_float64("test.f64", 2.5)
writer.add_int8("test.i8", -5)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
(out / "quants.json").write_text(json.dumps(expected))
print(f"wrote {len(expected)} tensors to {out}")
