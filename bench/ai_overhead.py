"""AI handlers: import cost (cold start) and the handler's overhead per model call.

(a) For the agent, router and evaluator handlers: the time to import ``handler`` in a fresh
    process (as Lambda does), against a baseline of importing boto3 and the Powertools
    Logger alone (what any Python handler using Powertools pays), and the extra cost of the
    first call's lazy imports (``stepweave.ai.agent`` + httpx). Median of ``--repeat``.
(b) Per call: an agent handler invocation (block event in, Sim output out) against a fake
    OpenAI server on loopback, versus the raw round trip of the same request with httpx
    (a fresh client per request, and a reused one: the handler keeps one client per
    process, so a warm Lambda reuses its TLS context and connections). Median of
    ``--calls``; the overhead is the difference of medians against the reused client.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]
from bench.synth_and_cold_start import (BASELINE_IMPORTS, FUNCTIONS, ROOT,  # noqa: E402
                                        SHARED, import_seconds)

AI_HANDLERS = ("agent", "router", "evaluator")
ANSWER = json.dumps({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello there."}}],
                     "usage": {"prompt_tokens": 12, "completion_tokens": 3}}).encode()


class _Fake(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # answer each request in one segment: without it, delayed ACKs add ~40 ms to whichever
    # keep-alive client happens to send headers and body in separate writes
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args: Any) -> None:
        pass


def cold_starts(repeat: int) -> None:
    lazy = "import handler\nimport stepweave.ai.agent, stepweave.ai.openai, httpx"
    samples: dict[str, list[float]] = {"": [], **{n: [] for n in AI_HANDLERS},
                                       **{n + "+call": [] for n in AI_HANDLERS}}
    for _ in range(repeat):
        samples[""].append(import_seconds(BASELINE_IMPORTS, [], ROOT, "baseline"))
        for name in AI_HANDLERS:
            path = [str(FUNCTIONS / name), str(SHARED)]
            samples[name].append(import_seconds("import handler", path, FUNCTIONS / name, name))
            samples[name + "+call"].append(import_seconds(lazy, path, FUNCTIONS / name, name))
    baseline = statistics.median(samples[""])
    print(f"(a) handler import in a fresh process, median of {repeat}; baseline "
          f"(boto3 + Powertools Logger): {baseline * 1000:.0f} ms")
    for name in AI_HANDLERS:
        cold = statistics.median(samples[name])
        first = statistics.median(samples[name + "+call"])
        print(f"  {name:<10} import {cold * 1000:5.0f} ms ({cold / baseline:4.2f}x the baseline); "
              f"with the first call's lazy imports {first * 1000:5.0f} ms "
              f"({first / baseline:4.2f}x)")


def per_call(calls: int) -> None:
    import httpx

    os.environ.update({"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR",
                       "BENCH_OPENAI_KEY": "sk-bench", "AWS_DEFAULT_REGION": "us-east-1"})
    sys.path[:0] = [str(SHARED)]
    from functions.agent.handler import lambda_handler

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    event = {"block": {"id": "a", "name": "Agent", "type": "agent"},
             "context": {"workflow": "bench", "execution": "arn:bench"},
             "params": {"model": "gpt-4o", "baseUrl": base, "apiKey": "{{BENCH_OPENAI_KEY}}",
                        "systemPrompt": "Be brief.",
                        "messages": [{"role": "user", "content": "Say hello."}]}}
    body = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "Say hello."}]}
    headers = {"Authorization": "Bearer sk-bench"}

    def fresh() -> None:
        with httpx.Client() as client:
            client.post(base + "/chat/completions", json=body, headers=headers).json()

    reused_client = httpx.Client()

    def reused() -> None:
        reused_client.post(base + "/chat/completions", json=body, headers=headers).json()

    def handler() -> None:
        out = lambda_handler(event, None)
        assert out["content"] == "Hello there."

    timings: dict[str, list[float]] = {"fresh": [], "reused": [], "handler": []}
    for fn in (fresh, reused, handler):  # warm up
        fn()
    for _ in range(calls):
        for name, fn in (("fresh", fresh), ("reused", reused), ("handler", handler)):
            t0 = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - t0)
    httpd.shutdown()
    med = {k: statistics.median(v) * 1000 for k, v in timings.items()}
    print(f"(b) per call, median of {calls}, fake OpenAI server on loopback:")
    print(f"  raw httpx POST, fresh client   {med['fresh']:6.2f} ms")
    print(f"  raw httpx POST, reused client  {med['reused']:6.2f} ms")
    print(f"  agent handler (event -> output) {med['handler']:6.2f} ms: overhead "
          f"{med['handler'] - med['reused']:+.2f} ms per call over the reused-client round trip "
          f"({med['handler'] / med['reused']:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    cold_starts(args.repeat)
    per_call(args.calls)


if __name__ == "__main__":
    main()
