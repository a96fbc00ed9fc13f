"""A reward model as peft makes one (DESIGN 5): transformers' LlamaForSequenceClassification on the default model with
one label, a LoRA (task_type SEQ_CLS, so peft saves the score head through modules_to_save), random non-zero weights
in F16, and its fp32 scores of a few conversations (the score on each sequence's last token). Tessera must read the
files and give the same scores; and, given --check DIR, this script loads Tessera's own reward model with peft and
prints its scores (the other direction of the round trip).

Writes OUT_DIR/reward_lora/ and OUT_DIR/reward_scores.json.

Usage: reward_fixtures.py MODEL.gguf OUT_DIR [--check TESSERA_REWARD_DIR]
"""
import json
import os
import sys

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from peft_fixture import save_f16
from transformers import AutoModelForSequenceClassification, AutoTokenizer

TEXTS = [
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 5, I think.<|im_end|>\n",
    "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\nBlue.<|im_end|>\n",
]

model_path, out_dir = sys.argv[1], sys.argv[2]
folder, file = os.path.dirname(os.path.abspath(model_path)), os.path.basename(model_path)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
sequences = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]


def base():
    m = AutoModelForSequenceClassification.from_pretrained(folder, gguf_file=file, num_labels=1, dtype=torch.float32)
    m.config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return m.eval()


def scores(model):
    with torch.no_grad():
        return [float(model(input_ids=torch.tensor([ids])).logits[0, 0]) for ids in sequences]


if "--check" in sys.argv:
    path = sys.argv[sys.argv.index("--check") + 1]
    model = PeftModel.from_pretrained(base(), path).eval()
    print(json.dumps({"tokens": sequences, "scores": scores(model)}))
    raise SystemExit(0)

torch.manual_seed(500)
model = get_peft_model(base(), LoraConfig(task_type=TaskType.SEQ_CLS, r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
with torch.no_grad():
    for n, p in model.named_parameters():
        if p.requires_grad:
            p.copy_((torch.randn_like(p) * (0.2 if "score" in n else 0.05)).to(torch.float16).to(torch.float32))
path = os.path.join(out_dir, "reward_lora")
save_f16(model, path)
model.eval()
result = {"tokens": sequences, "scores": scores(model)}
with open(os.path.join(out_dir, "reward_scores.json"), "w") as f:
    json.dump(result, f)
print(result["scores"])
