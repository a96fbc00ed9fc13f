"""What the one-step fixture scripts share: a PEFT adapter written as the trainer reads it."""
import os
import shutil

import torch
from safetensors.torch import load_file, save_file


def save_f16(model, path):
    """model's adapter at path in F16 (the reference starts from exactly those rounded values), without peft's README."""
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path)
    f = os.path.join(path, "adapter_model.safetensors")
    save_file({k: v.to(torch.float16) for k, v in load_file(f).items()}, f, metadata={"format": "pt"})
    os.remove(os.path.join(path, "README.md"))
