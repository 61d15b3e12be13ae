"""A bounded load test of ``omnimask serve`` on 127.0.0.1: N requests from C concurrent clients.

Starts the app (the shipped model) with uvicorn in this process, sends ``--requests`` POST /generate
(RGB → depth from a held-out scene, every request its own seed) from ``--clients`` threads, and prints
p50 / p95 / max latency, throughput and the error count; it exits 1 when any request failed. Usage:
``python -m benchmarks.serve_load [--requests 200] [--clients 8] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import torch
import uvicorn

from omnimask.serve.app import create_app, free_port
from omnimask.serve.engine import Engine
from omnimask.serve.settings import ServeSettings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    port = free_port()
    engine = Engine.load(settings=ServeSettings(max_jobs=args.clients * 2))
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    rgb = httpx.get(f"{url}/scene/0").json()["rgb"]

    def one(i: int) -> tuple[float, int]:
        """(seconds, HTTP status) of one request; status 0 when it got no answer."""
        t0 = time.perf_counter()
        try:
            code = httpx.post(f"{url}/generate", json={"conditions": {"rgb": rgb}, "targets": ["depth"], "seed": i},
                              timeout=120).status_code
        except httpx.HTTPError:
            code = 0
        return time.perf_counter() - t0, code

    one(0)  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(one, range(args.requests)))
    wall = time.perf_counter() - start
    server.should_exit = True
    latencies = sorted(t for t, _ in results)
    errors = sum(code != 200 for _, code in results)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    print(f"{args.requests} requests from {args.clients} clients, RGB -> depth, torch threads {args.threads}")
    print(f"latency p50 {statistics.median(latencies) * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms, "
          f"max {latencies[-1] * 1e3:.0f} ms; {args.requests / wall:.1f} requests/s; errors {errors}")
    if errors:
        codes = sorted({code for _, code in results if code != 200})
        print(f"{errors} of {args.requests} requests failed (HTTP {codes})", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
