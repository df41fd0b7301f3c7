"""Peak memory of each handler Lambda, and the memory size chosen for it.

Each case runs in a fresh Python process laid out as Lambda lays out a function (its
``functions/<name>/`` folder and the ``stepweave`` package on ``sys.path``, the folder as
working directory, the deployed environment: secrets from SSM, large outputs to the
payload bucket, Powertools logs and metrics on). The process imports ``handler`` and
invokes ``lambda_handler`` ``--calls`` times per event, as a warm Lambda instance serves
one invocation after another (the peak grows over the first few dozen invocations, as the
garbage collector lets garbage accumulate, then stays; a sandbox at its limit runs once);
the peak is ``VmHWM`` (the process's resident-set high-water
mark: ``ru_maxrss`` would keep the parent's across fork and exec), the CPU is
``ru_utime + ru_stime``, and a warm call's CPU is the median of the invocations after the
first round (which also imports what handlers import on first use).

Events:

* captured from the example workflows run on the embedded engine: ``support-timeline``
  (its api, function and approval blocks), ``containers-showcase`` (function blocks) and
  ``support-triage`` with its models on an OpenAI-compatible server (agents, router);
  the same agent and router events on Anthropic and on Bedrock (boto3);
* written here for the block types no example uses (evaluator, tool: Slack, email, http);
* large cases: a 200 KB prompt, context or content with a 100 KB answer (stored in the
  payload bucket), 1 MB responses to the api block and the http tool, and, shown but not
  sized for, a 10 MB response and function blocks that allocate until their sandbox limit
  (``memoryMb`` 128 to 1024) stops them, on the heap and in array buffers.

Every network call goes to fakes on loopback over TLS (a certificate made for the run,
trusted through ``SSL_CERT_FILE`` / ``AWS_CA_BUNDLE`` next to certifi's bundle): the model
providers, Slack, the examples' internal API, and AWS (``AWS_ENDPOINT_URL``: SSM, S3,
DynamoDB, Step Functions, SES, Bedrock), answered as the services answer.

The size chosen per handler is ``infra.memory.memory_for_peak`` of its peak (1.5 times it
plus 32 MB, in 64 MB steps, at least 128 MB), except the function handler's, which is
CPU-bound; the bench prints what each sandbox size needs (``sandbox_need_mb``) next to its
measured peak, and flags a size in ``infra/memory.py`` that differs from its rule
(docs/deploying.md, "Handler memory"). Needs the ``openssl`` command.

    python bench/handler_memory.py [--calls 50]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
SHARED = ROOT / "shared"
sys.path[:0] = [str(SHARED), str(ROOT / "examples"), str(ROOT)]

from infra.memory import (  # noqa: E402
    DEFAULT_SANDBOX_MB,
    HANDLER_MEMORY_MB,
    function_memory_mb,
    memory_for_peak,
    sandbox_need_mb,
)

#: The sizes deployed before they were chosen from these measurements.
PREVIOUS_MEMORY_MB = {"agent": 512, "router": 256, "evaluator": 256, "api": 256, "tool": 256,
                      "function": 512, "approval": 256}

BUCKET = "bench-payloads"
TABLE = "bench-records"
SENDER = "approvals@example.com"
SECRETS_PREFIX = "/stepweave/bench/"
LARGE_PROMPT = 200_000
LARGE_ANSWER = 100_000
SANDBOX_SIZES = (128, 256, 512, 1024)

# -- fakes -----------------------------------------------------------------------------------


def _example(schema: Any, text: str) -> Any:
    """A value that satisfies a (simple) JSON schema: enums' first member, minimums."""
    if not isinstance(schema, dict):
        return text
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {k: _example(v, text) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return text


def _answer_text(path: str) -> str:
    return "x" * LARGE_ANSWER if "/large/" in path else "Done."


def _openai(body: dict[str, Any], path: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    tools = body.get("tools") or []
    if tools and not any(m.get("role") == "tool" for m in body.get("messages", [])):
        fn = tools[0]["function"]
        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
            "name": fn["name"], "arguments": json.dumps(_example(fn.get("parameters"), "ticket"))}}]
    elif (body.get("response_format") or {}).get("type") == "json_schema":
        schema = body["response_format"]["json_schema"]["schema"]
        message["content"] = json.dumps(_example(schema, _answer_text(path)))
    else:
        message["content"] = _answer_text(path)
    return {"id": "chatcmpl-bench", "model": body.get("model"), "object": "chat.completion",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}


def _anthropic(body: dict[str, Any], path: str) -> dict[str, Any]:
    tools = body.get("tools") or []
    answered = any(isinstance(m.get("content"), list) and any(
        c.get("type") == "tool_result" for c in m["content"]) for m in body.get("messages", []))
    if tools and not answered:
        tool = tools[0]
        text = _answer_text(path) if tool["name"] == "structured_answer" else "ticket"
        content = [{"type": "tool_use", "id": "tu_1", "name": tool["name"],
                    "input": _example(tool.get("input_schema"), text)}]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": _answer_text(path)}], "end_turn"
    return {"id": "msg_bench", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": content, "stop_reason": stop,
            "usage": {"input_tokens": 120, "output_tokens": 30}}


def _converse(body: dict[str, Any], path: str) -> dict[str, Any]:
    tools = (body.get("toolConfig") or {}).get("tools") or []
    answered = any("toolResult" in c for m in body.get("messages", []) for c in m["content"])
    if tools and not answered:
        spec = tools[0]["toolSpec"]
        text = _answer_text(path) if spec["name"] == "structured_answer" else "ticket"
        content: list[dict[str, Any]] = [{"toolUse": {"toolUseId": "t1", "name": spec["name"],
                                "input": _example(spec["inputSchema"]["json"], text)}}]
        stop = "tool_use"
    else:
        content, stop = [{"text": _answer_text(path)}], "end_turn"
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150},
            "metrics": {"latencyMs": 5}}


def _json_data(size: int) -> bytes:
    """A JSON array of records, ``size`` bytes long (give or take a record)."""
    record = {"id": 0, "sku": "A-0000", "title": "An item of the catalog", "price": 12.5,
              "tags": ["blue", "large"], "stock": 3}
    n = max(1, size // (len(json.dumps(record)) + 2))
    return json.dumps([{**record, "id": i, "sku": f"A-{i:04d}"} for i in range(n)]).encode()


class FakeWorld(ThreadingHTTPServer):
    """Model providers, Slack, test data and the AWS services the handlers call, on one
    TLS port. AWS calls are told apart by ``X-Amz-Target`` (JSON protocols), the SES
    ``Action`` form field, Bedrock's ``/model/`` path, and S3's ``/<bucket>/<key>``."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, secrets: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.secrets = secrets
        #: seconds a model call takes to answer (0: at once)
        self.latency_s = 0.0
        self.history: list[dict[str, Any]] = []
        self.objects: dict[str, bytes] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeWorld:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


class _FakeHandler(BaseHTTPRequestHandler):
    server: FakeWorld
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # S3 uploads with a trailing checksum (aws-chunked): chunks, then trailers
        data = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if url.path == "/data":
            self._send(200, _json_data(int(parse_qs(url.query)["bytes"][0])))
        elif url.path.startswith(f"/{BUCKET}/"):
            data = self.server.objects.get(url.path)
            if data is None:
                self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            else:
                self._send(200, data, "application/octet-stream")
        else:
            self._send(404, b'{"error": "not found"}')

    def do_PUT(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        data = self._body()
        with self.server.lock:
            self.server.objects[path] = data
        self._send(200, b"", headers={"ETag": '"bench"'})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        raw = self._body()
        target = self.headers.get("X-Amz-Target")
        if path.endswith(("/converse", "/chat/completions", "/v1/messages")):
            time.sleep(self.server.latency_s)
        if target:
            self._aws_json(target, json.loads(raw or b"{}"))
        elif path.startswith("/model/") and path.endswith("/converse"):
            self._send(200, json.dumps(_converse(json.loads(raw), path)).encode())
        elif path.endswith("/chat/completions"):
            self._send(200, json.dumps(_openai(json.loads(raw), path)).encode())
        elif path.endswith("/v1/messages"):
            self._send(200, json.dumps(_anthropic(json.loads(raw), path)).encode())
        elif path.startswith("/slack"):
            self._send(200, b"ok", "text/plain")
        elif b"Action=SendEmail" in raw:
            self._send(200, b'<SendEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
                            b"<SendEmailResult><MessageId>bench-1</MessageId></SendEmailResult>"
                            b"<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
                            b"</SendEmailResponse>", "text/xml")
        else:
            self._send(404, b'{"error": "not found"}')

    def _aws_json(self, target: str, body: dict[str, Any]) -> None:
        operation = target.split(".")[-1]
        answer: dict[str, Any] = {}
        if operation == "GetParameter":
            name = body["Name"].removeprefix(SECRETS_PREFIX)
            if name not in self.server.secrets:
                self._send(400, b'{"__type": "ParameterNotFound"}', "application/x-amz-json-1.1")
                return
            answer = {"Parameter": {"Name": body["Name"], "Type": "SecureString", "Version": 1,
                                    "Value": self.server.secrets[name]}}
        elif operation == "Query":
            answer = {"Items": [], "Count": 0, "ScannedCount": 0}
        elif operation == "BatchWriteItem":
            answer = {"UnprocessedItems": {}}
        elif operation == "GetExecutionHistory":
            answer = {"events": self.server.history}
        elif operation == "DescribeExecution":
            answer = {"executionArn": body["executionArn"], "status": "RUNNING",
                      "startDate": time.time(), "stateMachineArn": "arn:aws:states:x"}
        version = "1.1" if target.startswith("AmazonSSM") else "1.0"
        self._send(200, json.dumps(answer).encode(), f"application/x-amz-json-{version}")


def _certificate(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1, and a CA file: certifi's bundle plus its certificate
    (clients load a full bundle, as deployed)."""
    import certifi

    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    bundle = folder / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + cert.read_bytes())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, bundle


# -- events ----------------------------------------------------------------------------------


def _planned(block_type: str, block_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The event the state machine sends for ``params`` as an author writes them (their
    ``{{NAME}}`` secrets planned by the compiler)."""
    from stepweave.compiler.secrets import plan_secrets

    plan = plan_secrets(block_type, params)
    event: dict[str, Any] = {
        "block": {"id": block_id, "name": block_id.title(), "type": block_type},
        "params": plan.params,
        "context": {"workflow": "bench", "execution":
                    "arn:aws:states:us-east-1:123456789012:execution:dev-bench:run-1"}}
    secrets = plan.event_field()
    if secrets is not None:
        event["secrets"] = secrets
    return event


def _capture(fake: FakeWorld, api_url: str, manifests: Path) -> dict[str, list[dict[str, Any]]]:
    """Run the examples on the embedded engine; every handler event they send, and the
    history the approval notifier reads (the run's events before the approval)."""
    from stepweave.compiler import compile_workflow
    from stepweave.local.engine import LocalEngine
    from stepweave.workflow.loader import load_workflow

    captured: dict[str, list[dict[str, Any]]] = {}

    def capture(handler: str) -> Callable[[dict[str, Any]], Any]:
        module = importlib.import_module(f"functions.{handler}.handler")

        def call(event: dict[str, Any]) -> Any:
            if handler == "approval" and event.get("stretch"):
                return _lead_in(event)
            captured.setdefault(handler, []).append(copy.deepcopy(event))
            return module.lambda_handler(event, None)

        def _lead_in(event: dict[str, Any]) -> Any:
            """An approval that runs the stretch before it: replayed as the request it then
            makes (its parameters, from the stretch; the stretch's run, one API call whose
            wait is not the notifier's memory or CPU, left out of the replay)."""
            from stepweave.runtime.lead_in import IN_PROCESS_RUNNER

            inner = IN_PROCESS_RUNNER.get()
            assert inner is not None, "the engine runs a lead-in's stretch"
            answers: list[Any] = []

            def recording(machine: str, payload: str) -> Any:
                answers.append(inner(machine, payload))
                return answers[-1]
            token = IN_PROCESS_RUNNER.set(recording)
            try:
                return module.lambda_handler(event, None)
            finally:
                IN_PROCESS_RUNNER.reset(token)
                output = json.loads(answers[0].get("output") or "{}") if answers else {}
                if output.get("exit") == event["block"]["name"]:
                    request = {k: v for k, v in copy.deepcopy(event).items() if k != "stretch"}
                    captured.setdefault(handler, []).append({**request, "params": output.get("params") or {}})
        return call

    saved = {k: os.environ.get(k) for k in ("INTERNAL_API_URL", "OPENAI_API_KEY",
                                            "SLACK_WEBHOOK_URL", "POWERTOOLS_LOG_LEVEL",
                                            "POWERTOOLS_METRICS_DISABLED")}
    os.environ.update({"INTERNAL_API_URL": api_url, "OPENAI_API_KEY": fake.secrets["OPENAI_API_KEY"],
                       "SLACK_WEBHOOK_URL": fake.secrets["SLACK_WEBHOOK_URL"],
                       "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"})
    triage = load_workflow(ROOT / "workflows" / "support-triage.yaml")
    for block in triage.blocks:  # the offline model -> an OpenAI-compatible server
        if block.params.get("model") == "local":
            block.params.update(model="gpt-4o-mini", baseUrl=fake.url + "/openai/v1")
    order = json.loads((ROOT / "examples" / "shopify-order.json").read_text())
    runs = [("support-timeline", load_workflow(ROOT / "workflows" / "support-timeline.yaml"), order),
            ("containers-showcase", load_workflow(ROOT / "workflows" / "containers-showcase.yaml"), {}),
            ("support-triage", triage, {"message": "I was charged twice for my order, please "
                                                   "refund one of the charges.", "customer": "Ada"})]
    handlers = ("agent", "router", "api", "function", "approval")
    try:
        with LocalEngine(handlers={h: capture(h) for h in handlers}) as engine:
            for name, workflow, payload in runs:
                compiled = compile_workflow(workflow, name)
                result = engine.run(compiled, payload, poll_s=0.01,
                                    approver=lambda approval: {"approved": True})
                if result.status != "SUCCEEDED":
                    raise SystemExit(f"{name} did not succeed on the embedded engine: "
                                     f"{result.error}: {result.cause}")
                if name == "support-timeline":
                    _approval_history(fake, compiled, result.events, captured, manifests)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return captured


def _approval_history(fake: FakeWorld, compiled: Any, events: list[dict[str, Any]],
                      captured: dict[str, list[dict[str, Any]]], manifests: Path) -> None:
    """What the notifier reads at the pause: the history up to the approval's task, and the
    workflow's manifest under the state machine's name."""
    def jsonable(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        if isinstance(value, dict):
            return {k: jsonable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [jsonable(v) for v in value]
        return value

    cut = next(i for i, e in enumerate(events) if e["type"] == "TaskScheduled")
    fake.history = [jsonable(e) for e in events[:cut]]
    (execution,) = {e["context"]["execution"] for e in captured["approval"]}
    machine = execution.split(":")[6]
    (manifests / f"{compiled.name}.json").write_text(json.dumps(compiled.manifest()))
    (manifests / "index.json").write_text(json.dumps({machine: compiled.name}))


@dataclass
class Case:
    handler: str
    name: str
    events: list[dict[str, Any]]
    env: dict[str, str] = field(default_factory=dict)
    #: the block is expected to fail (a sandbox at its limit): the error's class name
    fails_with: str | None = None
    #: its peak sets the handler's size (False: shown, beyond what the size is for)
    sizing: bool = True
    #: invocations per event (None: ``--calls``)
    calls: int | None = None


def _with(event: dict[str, Any], **params: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["params"].update(params)
    return out


def _provider(event: dict[str, Any], model: str, base_url: str | None, key: str | None) -> dict[str, Any]:
    """``event`` with another model (and its default key secret instead of OpenAI's)."""
    out = copy.deepcopy(event)
    out["params"]["model"] = model
    out["params"].pop("baseUrl", None)
    if base_url:
        out["params"]["baseUrl"] = base_url
    names = [n for n in out.get("secrets", {}).get("names", []) if n != "OPENAI_API_KEY"]
    out.setdefault("secrets", {})["names"] = names + ([key] if key else [])
    return out


def _large_prompt(event: dict[str, Any], fake_url: str, path: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["params"]["baseUrl"] = fake_url + path
    text = "The customer wrote: " + "lorem ipsum dolor sit amet " * (LARGE_PROMPT // 27)
    if "messages" in out["params"]:
        out["params"]["messages"] = [{"role": "user", "content": text}]
    for key in ("context", "content"):
        if key in out["params"]:
            out["params"][key] = text
    return out


def _sandbox_code(kind: str) -> str:
    if kind == "heap":  # objects until V8's heap limit
        return ("const a = [];\nwhile (true) a.push({n: a.length, s: 'x'.repeat(64) + a.length, "
                "v: [1, 2, 3]});")
    # array buffers of 8 MB each, until the process-memory watch stops them
    return "const b = [];\nwhile (true) b.push(new Uint8Array(8 * 2 ** 20).fill(7));"


def cases(captured: dict[str, list[dict[str, Any]]], fake: FakeWorld,
          manifests: Path) -> list[Case]:
    url = fake.url
    (triage, *notify) = captured["agent"]
    (route,) = captured["router"]
    bedrock = "anthropic.claude-3-5-haiku-20241022-v1:0"
    evaluator = _planned("evaluator", "judge", {
        "model": "gpt-4o-mini", "baseUrl": url + "/openai/v1",
        "content": "Thanks for reaching out! I have refunded the duplicate charge; it shows on "
                   "your statement within 5 business days.",
        "metrics": [{"name": "Politeness", "description": "a polite reply", "range": {"min": 0, "max": 10}},
                    {"name": "Accuracy", "description": "states the refund policy correctly",
                     "range": {"min": 1, "max": 5}}]})
    slack = _planned("tool", "post", {"tool": "slack", "params": {
        "text": "[urgent] Ada: charged twice", "webhookUrl": "{{SLACK_WEBHOOK_URL}}"}})
    email = _planned("tool", "mail", {"tool": "email", "params": {
        "to": ["lead@example.com"], "subject": "Refund waits", "body": "A refund waits for you."}})
    out = [
        Case("agent", "support-triage (OpenAI)", [triage, *notify]),
        Case("agent", "support-triage (Anthropic)",
             [_provider(e, "claude-sonnet-4-5", url + "/anthropic", "ANTHROPIC_API_KEY")
              for e in (triage, *notify)]),
        Case("agent", "support-triage (Bedrock)",
             [_provider(e, bedrock, None, None) for e in (triage, *notify)]),
        Case("agent", "200 KB prompt, 100 KB answer", [_large_prompt(triage, url, "/large/openai/v1")]),
        Case("router", "support-triage (OpenAI)", [route]),
        Case("router", "support-triage (Bedrock)", [_provider(route, bedrock, None, None)]),
        Case("router", "200 KB context", [_large_prompt(route, url, "/large/openai/v1")]),
        Case("evaluator", "two metrics (OpenAI)", [evaluator]),
        Case("evaluator", "two metrics (Bedrock)", [_provider(evaluator, bedrock, None, None)]),
        Case("evaluator", "200 KB content", [_large_prompt(evaluator, url, "/large/openai/v1")]),
        Case("api", "support-timeline", captured["api"]),
        Case("api", "1 MB response",
             [_planned("api", "fetch", {"url": f"{url}/data?bytes={10**6}", "timeout": 60000})]),
        Case("api", "10 MB response",
             [_planned("api", "fetch", {"url": f"{url}/data?bytes={10**7}", "timeout": 60000})],
             sizing=False),
        Case("tool", "Slack webhook", [slack]),
        Case("tool", "email (SES)", [email], {"STEPWEAVE_APPROVAL_SENDER": SENDER}),
        Case("tool", "http, 1 MB response",
             [_planned("tool", "fetch", {"tool": "http", "params": {"url": f"{url}/data?bytes={10**6}"}})]),
        Case("function", "support-timeline, containers-showcase", captured["function"]),
        Case("approval", "support-timeline (email, Slack notification)", captured["approval"],
             {"STEPWEAVE_MANIFESTS_DIR": str(manifests), "STEPWEAVE_APPROVAL_SENDER": SENDER,
              "STEPWEAVE_RETENTION_DAYS": "30"}),
    ]
    for size in SANDBOX_SIZES:
        for kind in ("heap", "buffers"):
            event = _planned("function", "fill", {"code": _sandbox_code(kind), "memoryMb": size,
                                                  "timeoutMs": 120_000})
            out.append(Case("function", f"memoryMb {size}: {kind} to the limit", [event],
                            fails_with="BlockResourceError", sizing=False, calls=1))
    return out


# -- one case, in a fresh process ------------------------------------------------------------

_CHILD = """\
import json, resource, sys, time
sys.path[:0] = {path!r}

def sample():
    # VmHWM: this process image's peak resident set (ru_maxrss would keep the parent's
    # across fork and exec)
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return hwm / 1024, usage.ru_utime + usage.ru_stime

class Context:
    function_name = "stepweave-bench"
    memory_limit_in_mb = 10240
    aws_request_id = "bench"
    @staticmethod
    def get_remaining_time_in_millis():
        return 900_000

start = sample()
import handler
imported = sample()
with open({events!r}) as file:
    events = json.load(file)
calls = []
for _ in range({calls}):
    for event in events:
        before, t0 = sample(), time.perf_counter()
        try:
            handler.lambda_handler(event, Context())
            error = None
        except Exception as exc:
            error = type(exc).__name__ + ": " + str(exc)[:300]
        wall, after = time.perf_counter() - t0, sample()
        calls.append({{"peak_mb": after[0], "cpu_s": after[1] - before[1], "wall_s": wall,
                       "error": error}})
with open({result!r}, "w") as file:
    json.dump({{"start_mb": start[0], "import_mb": imported[0], "import_cpu_s": imported[1] - start[1],
               "calls": calls}}, file)
"""


@dataclass(frozen=True)
class Measured:
    case: Case
    start_mb: float
    import_mb: float
    import_cpu_s: float
    peak_mb: float
    #: CPU of a warm call (the median of the calls after the first)
    warm_cpu_s: float
    errors: tuple[str, ...]


def measure(case: Case, env: dict[str, str], calls: int, tmp: Path) -> Measured:
    folder = FUNCTIONS / case.handler
    events, result = tmp / f"{case.handler}-events.json", tmp / f"{case.handler}-result.json"
    events.write_text(json.dumps(case.events))
    source = _CHILD.format(path=[str(folder), str(SHARED)], events=str(events), result=str(result),
                           calls=case.calls or calls)
    child_env = {**env, **case.env, "POWERTOOLS_SERVICE_NAME": f"stepweave-{case.handler}"}
    proc = subprocess.run([sys.executable, "-c", source], cwd=folder, env=child_env,
                          capture_output=True, text=True, check=False, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"{case.handler} / {case.name} failed:\n{proc.stderr[-3000:]}")
    data = json.loads(result.read_text())
    errors = tuple(sorted({c["error"] for c in data["calls"] if c["error"]}))
    expected = case.fails_with
    if (expected is None and errors) or (expected and not all(
            e.startswith(expected) for e in errors) or expected and not errors):
        raise SystemExit(f"{case.handler} / {case.name}: unexpected outcome {errors or 'success'}"
                         f"\n{proc.stdout[-3000:]}")
    warm = [c["cpu_s"] for c in data["calls"][len(case.events):]] or [data["calls"][-1]["cpu_s"]]
    warm.sort()
    return Measured(case, data["start_mb"], data["import_mb"], data["import_cpu_s"],
                    max(c["peak_mb"] for c in data["calls"]), warm[len(warm) // 2], errors)


def child_environment(fake: FakeWorld, bundle: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "STEPWEAVE_", "POWERTOOLS_")) and k != "PYTHONPATH"}
    env.update({
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": fake.url, "AWS_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": str(bundle),
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_METRICS_NAMESPACE": "Stepweave", "LOG_LEVEL": "INFO",
        "STEPWEAVE_PAYLOAD_BUCKET": BUCKET, "STEPWEAVE_INLINE_BUDGET_BYTES": "32768",
        "STEPWEAVE_SECRETS_BACKEND": "ssm", "STEPWEAVE_SECRETS_PREFIX": SECRETS_PREFIX,
        "STEPWEAVE_TABLE": TABLE,
    })
    return env


def bare_interpreter_mb() -> float:
    out = subprocess.run([sys.executable, "-c", "print(next(int(l.split()[1]) for l in "
                          "open('/proc/self/status') if l.startswith('VmHWM:')) / 1024)"],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


# -- report ----------------------------------------------------------------------------------


def report(results: list[Measured]) -> dict[str, int]:
    """Print every case, then per handler its peak and the size chosen from it."""
    print(f"{'handler':10} {'case':45} {'import':>8} {'peak':>8} {'warm CPU':>9}")
    for m in results:
        note = ("  (stopped by its limit)" if m.errors else
                "" if m.case.sizing else "  (not sized for)")
        print(f"{m.case.handler:10} {m.case.name:45} {m.import_mb:6.1f}MB {m.peak_mb:6.1f}MB "
              f"{m.warm_cpu_s * 1000:7.1f}ms{note}")
    print()
    print(f"{'handler':10} {'peak':>8} {'chosen':>8} {'deployed':>9} {'before':>7}  rule")
    chosen: dict[str, int] = {}
    for handler in sorted({m.case.handler for m in results}):
        mine = [m for m in results if m.case.handler == handler]
        peak = max(m.peak_mb for m in mine if m.case.sizing)
        if handler == "function":
            size = function_memory_mb(DEFAULT_SANDBOX_MB)
            rule = ("CPU-bound: kept (a smaller size costs as much per call, and is slower); "
                    "the sandboxes' floor below")
        else:
            size = memory_for_peak(peak)
            rule = f"max(128, {peak:.0f} x 1.5 + 32) in 64 MB steps"
        chosen[handler] = size
        deployed = HANDLER_MEMORY_MB[handler]
        flag = "" if deployed == size else "  <- differs from infra/memory.py"
        print(f"{handler:10} {peak:6.1f}MB {size:6d}MB {deployed:7d}MB {PREVIOUS_MEMORY_MB[handler]:5d}MB"
              f"  {rule}{flag}")
    sandbox = [m for m in results if m.case.handler == "function" and m.errors]
    if sandbox:
        print("\nfunction blocks at their sandbox limit (memoryMb): the peak, and the least "
              "memory of the Lambda running them (infra.memory.sandbox_need_mb)")
        for size in SANDBOX_SIZES:
            peaks = [m.peak_mb for m in sandbox if m.case.name.startswith(f"memoryMb {size}:")]
            if peaks:
                need = sandbox_need_mb(size)
                flag = "" if need >= 1.2 * max(peaks) else "  <- under 1.2x the peak"
                print(f"  memoryMb {size:5d}: peak {max(peaks):7.1f} MB, needs {need:5d} MB "
                      f"({need / max(peaks):.2f}x); the function handler gets "
                      f"{function_memory_mb(size)} MB{flag}")
    return chosen


@dataclass
class World:
    """The fakes of a run, the environment of the handler processes, and a scratch folder."""

    fake: FakeWorld
    api_url: str
    env: dict[str, str]
    tmp: Path
    manifests: Path


@contextlib.contextmanager
def world() -> Iterator[World]:
    """Start the fakes (TLS on loopback) and the examples' internal API; stop them after."""
    if shutil.which("openssl") is None:
        raise SystemExit("bench/handler_memory.py needs the openssl command (a TLS certificate)")
    from internal_api import InternalApi

    saved = os.environ.get("SSL_CERT_FILE")
    with tempfile.TemporaryDirectory(prefix="stepweave-bench-memory-") as name:
        tmp = Path(name)
        context, bundle = _certificate(tmp)
        os.environ["SSL_CERT_FILE"] = str(bundle)  # this process's own calls trust it too
        internal = InternalApi()
        internal.socket = context.wrap_socket(internal.socket, server_side=True)
        internal.start()
        api_url = f"https://127.0.0.1:{internal.server_address[1]}"
        fake = FakeWorld(context, {}).start()
        fake.secrets.update({"OPENAI_API_KEY": "sk-bench", "ANTHROPIC_API_KEY": "sk-ant-bench",
                             "SLACK_WEBHOOK_URL": fake.url + "/slack/T0/B0/x",
                             "INTERNAL_API_URL": api_url})
        manifests = tmp / "manifests"
        manifests.mkdir()
        try:
            yield World(fake, api_url, child_environment(fake, bundle), tmp, manifests)
        finally:
            fake.shutdown()
            internal.shutdown()
            if saved is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = saved


def warm_cpu(w: World, handlers: set[str], calls: int = 10) -> dict[str, float]:
    """CPU seconds of a warm call per handler (its first case: an example's events), with
    the deployed settings, each in a fresh process."""
    captured = _capture(w.fake, w.api_url, w.manifests)
    first: dict[str, Case] = {}
    for case in cases(captured, w.fake, w.manifests):
        first.setdefault(case.handler, case)
    return {h: measure(first[h], w.env, calls, w.tmp).warm_cpu_s for h in sorted(handlers)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50,
                        help="invocations per event (the peak grows over the first few dozen, "
                             "as the garbage collector lets it, then stays)")
    parser.add_argument("--only", help="handlers to measure, comma-separated")
    args = parser.parse_args()
    with world() as w:
        t0 = time.perf_counter()
        captured = _capture(w.fake, w.api_url, w.manifests)
        print(f"events captured from the examples on the embedded engine in "
              f"{time.perf_counter() - t0:.1f} s; bare interpreter: {bare_interpreter_mb():.1f} MB; "
              f"{args.calls} invocations per event, each case in a fresh process (Python "
              f"{sys.version.split()[0]}); warm CPU: the median of the invocations after the "
              f"first round\n")
        only = set(args.only.split(",")) if args.only else None
        results = [measure(case, w.env, args.calls, w.tmp)
                   for case in cases(captured, w.fake, w.manifests)
                   if only is None or case.handler in only]
        report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
