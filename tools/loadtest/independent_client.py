"""An independent client to check `tessera loadtest` against: shares no code with it (Python, the official openai
client's async streaming, its own arrival process, its own statistics from the standard library). Run it beside a load test on the same server and
compare the two reports.

    .venv-e2e/bin/python tools/loadtest/independent_client.py --base-url http://127.0.0.1:8080 --num-prompts 200 \
        --request-rate 1.5 --input-len 128 --output-len 128 [--model NAME] [--seed 2]

With `--arrivals constant --start-delay 0.5` beside `tessera loadtest --burstiness 1000` at the same rate, the two
clients interleave the same regular load, so their numbers differ only by how each measures.
Key from OPENAI_API_KEY. Prints one JSON object: throughputs and TTFT/TPOT/ITL/E2EL percentiles in ms.
"""
import argparse
import asyncio
import json
import os
import random
import statistics
import time

from openai import AsyncOpenAI


async def one(client, model, prompt, output_len, out):
    start = time.perf_counter()
    first = last = None
    gaps, tokens = [], 0
    try:
        stream = await client.completions.create(
            model=model, prompt=prompt, max_tokens=output_len, temperature=0, stream=True,
            stream_options={"include_usage": True}, extra_body={"ignore_eos": True})
        async for chunk in stream:
            now = time.perf_counter()
            if chunk.choices:
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
    except Exception:
        out.append({"ok": False})
        return
    out.append({"ok": first is not None, "ttft": (first or start) - start, "e2el": (last or start) - start,
                "gaps": gaps, "tokens": tokens})


def pct(values, p):
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    # statistics' "inclusive" method is linear interpolation between closest ranks (numpy's default).
    return statistics.quantiles(values, n=1000, method="inclusive")[int(p * 10) - 1] if p < 100 else max(values)


async def main():
    a = argparse.ArgumentParser()
    a.add_argument("--base-url", default="http://127.0.0.1:8080")
    a.add_argument("--model")
    a.add_argument("--num-prompts", type=int, default=100)
    a.add_argument("--request-rate", type=float, default=1.0)
    a.add_argument("--input-len", type=int, default=128)
    a.add_argument("--output-len", type=int, default=128)
    a.add_argument("--seed", type=int, default=2)
    a.add_argument("--arrivals", choices=["poisson", "constant"], default="poisson")
    a.add_argument("--start-delay", type=float, default=0.0, help="seconds to wait before the first request")
    args = a.parse_args()
    rng = random.Random(args.seed)
    client = AsyncOpenAI(base_url=args.base_url + "/v1", api_key=os.environ.get("OPENAI_API_KEY", "none"),
                         max_retries=0, timeout=600)
    model = args.model or (await client.models.list()).data[0].id
    # Poisson arrivals, stretched so the last one falls at n/rate as vLLM's bench (and tessera loadtest) do: both
    # clients then offer the same load, and throughput compares like for like.
    if args.arrivals == "poisson":
        gaps = [rng.expovariate(args.request_rate) for _ in range(args.num_prompts)]
    else:
        gaps = [1 / args.request_rate] * args.num_prompts
    await asyncio.sleep(args.start_delay)
    scale = args.num_prompts / args.request_rate / sum(gaps)
    out, tasks = [], []
    begin = time.perf_counter()
    next_at = begin
    for gap in gaps:
        next_at += gap * scale
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        prompt = [rng.randrange(1000, 30000) for _ in range(args.input_len)]
        tasks.append(asyncio.create_task(one(client, model, prompt, args.output_len, out)))
    await asyncio.gather(*tasks)
    duration = time.perf_counter() - begin
    ok = [o for o in out if o["ok"]]
    ttft = sorted(o["ttft"] for o in ok)
    tpot = sorted((o["e2el"] - o["ttft"]) / (o["tokens"] - 1) for o in ok if o["tokens"] > 1)
    itl = sorted(g for o in ok for g in o["gaps"])
    e2el = sorted(o["e2el"] for o in ok)
    result = {"completed": len(ok), "failed": len(out) - len(ok), "duration": duration,
              "request_throughput": len(ok) / duration, "output_throughput": sum(o["tokens"] for o in ok) / duration}
    for name, v in [("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)]:
        result[f"mean_{name}_ms"] = statistics.fmean(v) * 1000 if v else 0
        for p in (50, 90, 99):
            result[f"p{p}_{name}_ms"] = pct(v, p) * 1000
    print(json.dumps(result, indent=2))


asyncio.run(main())
