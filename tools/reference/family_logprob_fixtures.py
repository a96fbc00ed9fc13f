"""Teacher-forced per-token logprobs for the model families beyond Llama 2 style (DESIGN 5): the tiny random models of
family_models.py (Qwen 2, Qwen 3, Llama 3.1, Gemma 3) and the real Gemma 3 270M.

Reference: a transformers fp32 model (eager attention) built from the ORIGINAL config - family_models.make_config for
the tiny models, the GGUF's metadata (checked key by key) for Gemma 3 270M - carrying the weights DEQUANTIZED FROM THE
GGUF with gguf-py, tensor names mapped back through gguf's TensorNameMap and the converter's edits undone: the Q/K row
permutation of the llama arch (LlamaModel.permute), the +1 Gemma 3 adds to every `*norm.weight`. transformers' own GGUF
loader is not used: it drops llama3 RoPE scaling and reads no key_length. The builder lives in gguf_reference.py (the
adapter and train-step fixtures of Gemma 3 use it too).
The bar: llama.cpp on the same file (logits_all=True, 2 threads).

Round trip: for each tiny family the same mapping applied to the f32 GGUF must reproduce the saved HF model's logits
(needs the scratch directory family_models.py wrote).

Usage: family_logprob_fixtures.py FAMILY_DIR GEMMA3_270M.gguf OUT.json [SCRATCH]
"""
import json
import os
import sys

import numpy as np
import torch
from gguf import GGUFReader
from llama_cpp import Llama
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import family_models  # noqa: E402
from gguf_reference import gemma270m_config, reference_model  # noqa: E402

ROOT = family_models.ROOT
torch.set_num_threads(2)
torch.manual_seed(0)

TINY = [("qwen2-Q8_0", "qwen2"), ("qwen3-Q8_0", "qwen3"), ("llama31-Q8_0", "llama31"),
        ("llama31-Q4_K_M", "llama31"), ("gemma3-Q8_0", "gemma3")]
TINY_LENGTHS = [20, 37, 64, 200]  # 200 > 2 x 8 (gemma3 sliding window)
# llama3 RoPE scaling only changes the slow rotary pairs (wavelength > 2048 positions here): a long case makes it
# matter (a reference without it is ~0.09 nats off after position 1000, against ~0.013 with it).
EXTRA_LENGTHS = {"llama31": [1600]}

LONG = (
    "The history of the lighthouse is a history of people trying to make the sea a little less dangerous. Long before "
    "electric lamps and rotating lenses, sailors relied on bonfires lit on hilltops and headlands to mark the entrance "
    "to a harbour. The most famous ancient example was the Pharos of Alexandria, built in the third century BC on a small "
    "island at the mouth of the harbour. Writers of the time described a tower so tall that its fire could be seen from "
    "far out at sea, and for centuries it was counted among the wonders of the world. Earthquakes damaged it repeatedly, "
    "and by the fourteenth century little of it remained, but its name survives in the word for lighthouse in several "
    "languages.\n\n"
    "For most of the following millennium, lights along the coast were simple affairs: open fires, candles or oil lamps "
    "burning behind glass. They were dim, they needed constant attention, and the smoke blackened the windows of the "
    "lantern room. Keepers spent their nights trimming wicks, polishing glass and climbing the stairs again and again. "
    "The job was lonely and often dangerous, particularly on rock stations far from shore, where supplies arrived only "
    "when the weather allowed a boat to land.\n\n"
    "The great change came in the early nineteenth century, when the French physicist Augustin Fresnel designed a lens "
    "made of concentric rings of glass prisms. A Fresnel lens could gather almost all of the light from a lamp and bend "
    "it into a narrow, powerful beam, while remaining far thinner and lighter than a solid lens of the same size. "
    "Lighthouses fitted with these lenses could be seen twenty miles or more away. Different lighthouses were given "
    "different patterns of flashes, so that a navigator who counted the seconds between flashes could tell exactly which "
    "light he was looking at and therefore where his ship was.\n\n"
    "Fuel changed as well. Whale oil gave way to colza oil made from rapeseed, then to kerosene, and finally to "
    "electricity. Clockwork mechanisms, wound by hand every few hours, turned the heavy lenses on baths of mercury so "
    "that they rotated smoothly with very little friction. Fog signals were added for the days when no light could be "
    "seen at all: bells, whistles, sirens and eventually the deep, mournful horns that many coastal towns still remember.\n\n"
    "In the twentieth century automation slowly made the keepers unnecessary. Photoelectric switches turned the lamps on "
    "at dusk and off at dawn, and radio beacons and later satellite navigation gave ships far better ways to fix their "
    "position. One by one, the last keepers left their towers. Today many lighthouses are museums, holiday cottages or "
    "simply landmarks, but a good number still shine every night, maintained by engineers who visit a few times a year. "
    "Even in an age of GPS, a light on a headland remains one of the most reassuring sights a sailor can see.\n\n"
    "Lighthouses have also found a lasting place in culture. Painters have been drawn to their white towers against "
    "stormy skies, novelists have used them as symbols of isolation and guidance, and children build them out of sand "
    "on summer beaches. Perhaps that is because a lighthouse asks for nothing: it simply stands at the edge of the land "
    "and keeps its light burning, so that strangers it will never meet can find their way home safely through the dark."
)
GEMMA_TEXTS = [
    "The capital of France is Paris. It is known for the Eiffel Tower, the Louvre museum, and its cafés.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\nprint(fibonacci(10))\n",
    "Xin chào! Hôm nay trời đẹp quá. 今天天气很好。 Привет, как дела? 😀🎉",
    "<start_of_turn>user\nWhat is 17 times 23? Explain briefly.<end_of_turn>\n<start_of_turn>model\n"
    "17 times 23 is 391: 17 × 20 = 340 and 17 × 3 = 51, and 340 + 51 = 391.<end_of_turn>\n"
    "<start_of_turn>user\nThanks! Now 12 squared?<end_of_turn>\n<start_of_turn>model\n144.<end_of_turn>\n",
    LONG,
]


def logprobs_from_logits(logits, ids):
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))
    return [float(logits[i, ids[i + 1]] - lse[i]) for i in range(len(ids) - 1)]


def forward(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids]), use_cache=False).logits[0].double().numpy()


def llamacpp_logprobs(cpp, ids):
    cpp.reset()
    cpp.eval(ids)
    return logprobs_from_logits(np.array(cpp.scores[: len(ids)]), ids)


def report(name, cases):
    err = np.concatenate([np.abs(np.array(c["reference"]) - np.array(c["llamacpp"])) for c in cases])
    ref = np.concatenate([np.array(c["reference"]) for c in cases])
    print(f"{name:16s} llama.cpp vs reference: mean {err.mean():.5f} max {err.max():.5f}   "
          f"(reference logprob mean {ref.mean():.2f}, min {ref.min():.2f}, max {ref.max():.2f})", flush=True)


def main():
    family_dir, gemma_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    scratch = sys.argv[4] if len(sys.argv) > 4 else os.path.join(ROOT, "models", "families")
    files = {}

    # Round trip: the mapping applied to the f32 GGUF reproduces the saved HF model.
    rng = np.random.default_rng(1234)
    for fam in family_models.FAMILIES:
        hf_dir, f32 = os.path.join(scratch, f"{fam}-hf"), os.path.join(scratch, f"{fam}-f32.gguf")
        orig = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="eager").eval()
        mine = reference_model(family_models.make_config(fam), f32)
        ids = [int(i) for i in rng.integers(0, family_models.VOCAB, 100)]
        a, b = forward(orig, ids), forward(mine, ids)
        d = np.abs(a - b).max()
        # llama.cpp on the f32 GGUF with an f32 KV cache: no quantized dot products, so it must agree closely
        # (Gemma: ggml's GELU goes through an fp16 table, ~1e-3).
        cpp = Llama(model_path=f32, n_ctx=len(ids), n_batch=len(ids), logits_all=True, n_threads=2, verbose=False,
                    type_k=0, type_v=0)
        e = np.abs(np.array(logprobs_from_logits(b, ids)) - np.array(llamacpp_logprobs(cpp, ids)))
        del cpp
        print(f"round trip {fam:8s} f32 GGUF -> HF: max |logit diff| {d:.2e}; llama.cpp f32 (f32 KV) vs reference: "
              f"mean {e.mean():.2e} max {e.max():.2e}", flush=True)
        assert d < 1e-4 and e.mean() < (2e-3 if fam.startswith("gemma") else 1e-4), (d, e.mean())

    for name, fam in TINY:
        path = os.path.join(family_dir, f"{name}.gguf")
        config = family_models.make_config(fam)
        model = reference_model(config, path)
        lengths = TINY_LENGTHS + EXTRA_LENGTHS.get(fam, [])
        cpp = Llama(model_path=path, n_ctx=max(lengths), logits_all=True, n_threads=2, verbose=False)
        seq_rng = np.random.default_rng(sum(map(ord, name)))
        cases = []
        for n in lengths:
            ids = [int(i) for i in seq_rng.integers(0, config.vocab_size, n)]
            if config.bos_token_id is not None:
                ids[0] = config.bos_token_id
            ref = logprobs_from_logits(forward(model, ids), ids)
            cases.append({"tokens": ids, "reference": ref, "llamacpp": llamacpp_logprobs(cpp, ids)})
        report(name, cases)
        files[name] = {"model": os.path.relpath(os.path.abspath(path), ROOT), "cases": cases}
        del cpp, model

    reader = GGUFReader(gemma_path)
    config = gemma270m_config(reader)
    del reader
    vocab = Llama(model_path=gemma_path, vocab_only=True, verbose=False)
    token_lists = [vocab.tokenize(t.encode("utf-8"), add_bos=True, special=True) for t in GEMMA_TEXTS]
    assert max(map(len, token_lists)) > 600, max(map(len, token_lists))
    del vocab
    model = reference_model(config, gemma_path)
    n_ctx = max(map(len, token_lists))
    cpp = Llama(model_path=gemma_path, n_ctx=n_ctx, logits_all=True, n_threads=2, verbose=False)
    cases = []
    for text, ids in zip(GEMMA_TEXTS, token_lists):
        ref = logprobs_from_logits(forward(model, ids), ids)
        lc = llamacpp_logprobs(cpp, ids)
        err = np.abs(np.array(ref) - np.array(lc))
        print(f"  gemma-3-270m {len(ids):4d} tokens: mean {err.mean():.5f} max {err.max():.5f}", flush=True)
        cases.append({"text": text, "tokens": ids, "reference": ref, "llamacpp": lc})
    report("gemma-3-270m", cases)
    files["gemma-3-270m-it-Q4_K_M"] = {"model": os.path.relpath(os.path.abspath(gemma_path), ROOT), "cases": cases}

    with open(out, "w", encoding="utf-8") as f:
        json.dump({"files": files}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
