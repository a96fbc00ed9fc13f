"""Checks a `tessera loadtest --setup` run against the live server: every request answered with exact lengths, the
JSON has vLLM's fields, the HTML report exists, and clean-up left no load-test tenant active."""
import json
import sys
import urllib.request

result_path, base, admin = sys.argv[1:4]
r = json.load(open(result_path))
assert r["completed"] == 12 and r["failed"] == 0, (r["completed"], r["failed"], r.get("errors"))
assert r["total_output_tokens"] == 48 and r["output_tokens_from_usage"], r["total_output_tokens"]
for field in ["duration", "request_throughput", "output_throughput", "total_token_throughput", "mean_ttft_ms",
              "median_tpot_ms", "p99_itl_ms", "p99_e2el_ms", "ttfts", "itls", "per_tenant", "per_adapter", "fairness"]:
    assert field in r, field
# One gap per chunk with choices after the first (vLLM's ITL): 4 tokens, plus the finish chunk Tessera sends as
# OpenAI does; a token whose text is held back (an incomplete UTF-8 sequence) may share a later chunk.
assert all(2 <= len(itl) <= 4 for itl in r["itls"]), r["itls"]
assert sorted(t["name"] for t in r["per_tenant"]) <= ["acme", "globex", "initech", "umbrella"]
html = open(result_path[:-5] + ".html").read()
assert html.count("<svg") >= 5 and "<script" not in html

req = urllib.request.Request(base + "/admin/tenants", headers={"Authorization": "Bearer " + admin})
tenants = json.load(urllib.request.urlopen(req))["data"]
made = [t for t in tenants if t["name"].startswith("lt-")]
assert len(made) == 4 and all(t["revoked"] for t in made), made
print(f"e2e: loadtest ok ({r['completed']} requests, {len(r['per_adapter'])} adapters, setup and clean-up)")
