"""transformers + peft training throughput on the same GGUF, fp32, for `make bench-train`: LoRA (r16, alpha 32,
all linear projections) or DoRA or prompt tuning, batches of BATCH sequences of LENGTH tokens (random ids), AdamW,
torch's threads set to THREADS. Prints one JSON line: tokens/s (median step after a warm-up step) and peak RSS.
`dpo`: the LoRA on BATCH/2 preference pairs per step (a shared prompt of LENGTH/2 tokens, answers of the rest), TRL's
sigmoid loss with beta 0.1, chosen and rejected in one batch as TRL concatenates them, and the reference's
log-likelihoods (the adapter off) computed before the timed steps, as TRL's precompute_ref_log_probs does (its
default computes them again every step, a third more work).
`distill`: the LoRA on context distillation, forward KL at T = 1 to the base with the adapter off reading a 64-token
"system prompt" before each sequence; the student's prompt is LENGTH/4 tokens, the answer the rest. The teacher's
log-probabilities computed before the timed steps (Tessera caches its sparse top-64 teacher the same way); here the
whole distribution, as TRL's GKD compares them.

Usage: train_reference.py MODEL.gguf KIND [BATCH LENGTH STEPS THREADS]
"""
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, PromptTuningConfig, TaskType, get_peft_model
from transformers import AutoModelForCausalLM

model_path, kind = sys.argv[1], sys.argv[2]
batch, length, steps, threads = (int(a) for a in (sys.argv[3:7] + ["8", "256", "4", "2"][len(sys.argv) - 3:]))
torch.set_num_threads(threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(model_path)),
                                             gguf_file=os.path.basename(model_path), dtype=torch.float32)
if kind == "prompt":
    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=20)
else:
    config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=16, lora_alpha=32, target_modules="all-linear",
                        use_dora=kind == "dora")
model = get_peft_model(model, config)
model.train()
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
ids = torch.randint(0, model.config.vocab_size, (batch, length))
if kind == "dpo":
    half = length // 2
    ids[1::2, :half] = ids[0::2, :half]  # each pair's two answers share the prompt
    ids = torch.cat([ids[0::2], ids[1::2]])  # chosen rows, then rejected: TRL's concatenated batch
    mask = torch.zeros(batch, length - 1)
    mask[:, half - 1:] = 1  # predictions of the answer tokens


    def answer_logps():
        logits = model(input_ids=ids).logits[:, :-1]
        lp = torch.log_softmax(logits, dim=-1).gather(2, ids[:, 1:, None])[:, :, 0]
        return (lp * mask).sum(-1)


    with torch.no_grad(), model.disable_adapter():
        reference = answer_logps()
if kind == "distill":
    quarter, system = length // 4, torch.randint(0, model.config.vocab_size, (batch, 64))
    answer = slice(quarter - 1, length - 1)  # the positions predicting the answer's tokens
    with torch.no_grad(), model.disable_adapter():
        teacher = torch.log_softmax(model(input_ids=torch.cat([system, ids], dim=1)).logits[:, 64:][:, answer], dim=-1)
times = []
for step in range(steps + 1):
    start = time.perf_counter()
    if kind == "dpo":
        logps = answer_logps() - reference
        pairs = batch // 2
        loss = -F.logsigmoid(0.1 * (logps[:pairs] - logps[pairs:])).mean()
    elif kind == "distill":
        student = torch.log_softmax(model(input_ids=ids).logits[:, answer], dim=-1)
        loss = F.kl_div(student, teacher, reduction="none", log_target=True).sum(-1).mean()
    else:
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    if step > 0:
        times.append(time.perf_counter() - start)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"kind": kind, "tokens_per_s": batch * length / statistics.median(times), "peak_rss_bytes": rss,
                  "batch": batch, "length": length, "threads": threads}))
