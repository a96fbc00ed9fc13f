"""An independent client to check `tessera loadtest` against: shares no code with it (Python, httpx, its own
arrival process, its own statistics from the standard library). Run it beside a load test on the same server and
compare the two reports.

    .venv-e2e/bin/python tools/loadtest/independent_client.py --base-url http://127.0.0.1:8080 --num-prompts 200 \
        --request-rate 1.5 --input-len 128 --output-len 128 [--model NAME] [--seed 2]

Key from OPENAI_API_KEY. Prints one JSON object: throughputs and TTFT/TPOT/ITL/E2EL percentiles in ms.
"""
import argparse
import asyncio
import json
import os
import random
import statistics
import time

import httpx


async def one(client, url, headers, body, out):
    start = time.perf_counter()
    first = last = None
    gaps, tokens = [], None
    async with client.stream("POST", url, headers=headers, json=body) as r:
        if r.status_code != 200:
            out.append({"ok": False})
            return
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            now = time.perf_counter()
            if chunk.get("choices"):
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    out.append({"ok": first is not None, "ttft": (first or start) - start, "e2el": (last or start) - start,
                "gaps": gaps, "tokens": tokens or 0})


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
    args = a.parse_args()
    rng = random.Random(args.seed)
    headers = {"Authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", "none")}
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        model = args.model or (await client.get(args.base_url + "/v1/models", headers=headers)).json()["data"][0]["id"]
        out, tasks = [], []
        begin = time.perf_counter()
        next_at = begin
        for _ in range(args.num_prompts):
            next_at += rng.expovariate(args.request_rate)
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            body = {"model": model, "prompt": [rng.randrange(1000, 30000) for _ in range(args.input_len)],
                    "max_tokens": args.output_len, "temperature": 0, "ignore_eos": True, "stream": True,
                    "stream_options": {"include_usage": True}}
            tasks.append(asyncio.create_task(one(client, args.base_url + "/v1/completions", headers, body, out)))
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
