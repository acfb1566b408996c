"""``POST /flags`` with and without the flag-definitions cache, in the same run.

    uv run python -m benchmarks.flags [--flags 20] [--duration 10] [--rounds 2] [--clients 16]
    uv run python -m benchmarks.flags --redis-url redis://127.0.0.1:6379/0   # the cache in Redis

Starts two ``saaskit serve --workers 1`` side by side, each on its own fresh embedded PostgreSQL:
one with ``SAASKIT_CACHE_FLAGS_SECONDS=0`` (no cache: the baseline), one with the cache (in
process, or in Redis with ``--redis-url``). Each gets an organization with ``--flags`` flags
(property conditions, rollouts, a multivariate one), then wrk posts ``/flags/?v=2`` as
posthog-js does (a different distinct id each request), alternating baseline and cached phases.
Prints requests/s, p99, the API process's CPU per request and the ratio cached / uncached per
round, with load, CPU steal and RSS; appends to ``benchmarks/results/flags.csv``.
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

from benchmarks.common import HttpResult, Machine, append_csv, last_served_pid, run_wrk, serve
from benchmarks.ingest import RATE_LIMITS, setup_project

LUA = """
local counter = 0
function init(args)
  key = args[2]
  math.randomseed(os.time() + math.random(1, 100000))
  base = math.random(1, 1000000)
end
function request()
  counter = counter + 1
  local body = '{"api_key":"' .. key .. '","distinct_id":"visitor-' .. (base + counter)
    .. '","person_properties":{"plan":"pro","country":"DE"}}'
  return wrk.format("POST", "/flags/?v=2", {["Content-Type"] = "application/json"}, body)
end
"""


def define_flags(base: str, org_id: str, count: int) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        headers = {"Authorization": f"Bearer {TOKENS[base]}"}
        for n in range(count):
            filters: dict[str, object] = {
                "groups": [
                    {
                        "properties": [{"key": "plan", "value": ["pro", "team"], "operator": "exact"}],
                        "rollout_percentage": 50 + n % 50,
                    },
                    {"properties": [{"key": "country", "value": "DE", "operator": "exact"}]},
                ]
            }
            if n % 5 == 0:
                filters["multivariate"] = {
                    "variants": [
                        {"key": "control", "rollout_percentage": 50},
                        {"key": "test", "rollout_percentage": 50},
                    ]
                }
            response = http.post(
                f"/api/orgs/{org_id}/flags",
                headers=headers,
                json={"key": f"flag-{n}", "name": f"Flag {n}", "filters": filters},
            )
            response.raise_for_status()


TOKENS: dict[str, str] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flags", type=int, default=20)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--redis-url", help="keep the cache in this Redis (default: in process)")
    args = parser.parse_args()
    cached_env = {**RATE_LIMITS, "SAASKIT_CACHE_FLAGS_SECONDS": "5"}
    if args.redis_url:
        cached_env["SAASKIT_CACHE_REDIS_URL"] = args.redis_url
    results: list[tuple[int, str, HttpResult, Machine]] = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="saaskit-bench-")))
        servers: dict[str, tuple[str, int, str]] = {}
        for name, env in (
            ("uncached", {**RATE_LIMITS, "SAASKIT_CACHE_FLAGS_SECONDS": "0"}),
            ("cached", cached_env),
        ):
            (directory / name).mkdir()
            base, _ = stack.enter_context(serve(1, directory / name / "data", env=env))
            org_id, key = setup_project(base, tokens=TOKENS)
            define_flags(base, org_id, args.flags)
            servers[name] = (base, last_served_pid(), key)
        where = f"Redis {args.redis_url}" if args.redis_url else "in process"
        print(
            f"{args.flags} flags, {args.clients} clients, {args.duration} s phases; cache {where}", flush=True
        )
        for number in range(1, args.rounds + 1):
            for name, (base, pid, key) in servers.items():
                run_wrk(base, LUA, clients=args.clients, seconds=2, args=(key,))  # warm-up
                machine = Machine(root=pid)
                result = run_wrk(base, LUA, clients=args.clients, seconds=args.duration, args=(key,))
                machine.stop()
                results.append((number, name, result, machine))
                print(
                    f"  round {number} {name:<9} {result.requests_per_second:8,.0f} req/s  "
                    f"p99 {result.p99_ms:6.1f} ms  "
                    f"API CPU {machine.cpu_us_per(result.requests):6,.0f} us/req  "
                    f"({machine.describe()}) errors {result.errors}",
                    flush=True,
                )
    rows: list[dict[str, object]] = []
    print()
    for number in range(1, args.rounds + 1):
        (_, _, plain, pm), (_, _, cached, cm) = [r for r in results if r[0] == number]
        ratio = cached.requests_per_second / plain.requests_per_second
        cpu_ratio = cm.cpu_us_per(cached.requests) / pm.cpu_us_per(plain.requests)
        print(
            f"round {number}: cached / uncached {ratio:.2f} x requests/s, "
            f"{cpu_ratio:.2f} x API CPU per request"
        )
        for label, result, machine, baseline in (
            ("uncached", plain, pm, None),
            ("cached", cached, cm, plain),
        ):
            rows.append(
                {
                    "run": f"flags={args.flags} clients={args.clients} round={number} cache={where}",
                    "measure": f"POST /flags ({label})",
                    "figure": round(result.requests_per_second),
                    "unit": "req/s",
                    "baseline": "uncached" if baseline else "",
                    "baseline_figure": round(baseline.requests_per_second) if baseline else "",
                    "ratio": f"{result.requests_per_second / baseline.requests_per_second:.3f}"
                    if baseline
                    else "",
                    "p50_ms": f"{result.p50_ms:.1f}",
                    "p99_ms": f"{result.p99_ms:.1f}",
                    "errors": result.errors,
                    "load": f"{machine.load:.2f}",
                    "steal_pct": f"{machine.steal_pct:.1f}",
                    "busy_pct": f"{machine.busy_pct:.0f}",
                    "api_rss_mb": f"{machine.rss_mb:.0f}",
                    "api_cpu_us_per_request": f"{machine.cpu_us_per(result.requests):.0f}",
                }
            )
    print(f"appended to {append_csv('flags', rows)}")


if __name__ == "__main__":
    main()
