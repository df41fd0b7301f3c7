"""Untrusted workflow files: seeded mutations through ``stepweave validate``, per input format.

    python bench/fuzz_workflows.py [--count 20000] [--seed 1] [--timeout 10] [--jobs 2]
                                   [--format sim|yaml] [--save DIR]

Two formats, ``--count`` inputs each:

* ``sim``: the Sim scenario exports (tests/fixtures/sim-cases) with 1-4 structural
  mutations each (a node replaced by a value of another type, keys deleted, nodes
  duplicated, swapped or deeply nested, strings swapped for ones of the same file, the
  JSON texts inside sub-blocks mutated the same way) and a few byte-level ones;
* ``yaml``: the native workflows (workflows/*.yaml) and generated ones, mutated the same
  way, written as YAML with YAML's own features mixed in (anchors and aliases, tags,
  timestamps, non-string keys, flow collections nested deep).

Each input runs in a worker process: ``stepweave.cli.main(["validate", file])``, then for
an accepted one ``compile`` (and ``import`` for a Sim export). It is *accepted* (exit 0),
*refused* (exit 2: a report naming the file) or a *crash* (exit 1, ``internal error``, or
an exception out of ``main``); one that does not finish within ``--timeout`` seconds is a
*hang* (the worker is killed and replaced). Crash sites (the innermost stepweave frame of
the ``--debug`` traceback) are listed; ``--save DIR`` keeps the crashing and hanging
inputs. The target is 0 crashes and 0 hangs.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import multiprocessing as mp
import random
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SIM_CASES = ROOT / "tests" / "fixtures" / "sim-cases"
WORKFLOWS = ROOT / "workflows"
_MARK = "zzsplice"

# --- mutations --------------------------------------------------------------------------


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node's path (iteratively: inputs may already be deep)."""
    out, stack = [], [(value, at)]
    while stack:
        node, path = stack.pop()
        out.append(path)
        if isinstance(node, dict):
            stack += [(v, path + (k,)) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, path + (i,)) for i, v in enumerate(node)]
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _strings(doc: Any) -> list[str]:
    found = set()
    for path in _paths(doc):
        node = _get(doc, path)
        if isinstance(node, str) and len(node) < 80:
            found.add(node)
        if path and isinstance(path[-1], str):
            found.add(path[-1])
    return sorted(found)


_ODD_STRINGS = ["", " ", "<start.x>", "<start", "<a.b[0]>", "<loop.index>", "<parallel>",
                "<variable.counter>", "{{SECRET}}", "{{", "}}", "[", "{", "null", "true", "0",
                "-1", "1e999", "NaN", "[{\"id\": 1}]", "[1, [2, [3]]]", "{\"a\": {}}", "\"\"",
                "a -> b", "x -[error]-> y", "condition-", "router-", "loop", "parallel",
                "variable", "é" * 30, "\u202e\u0000", "a" * 300, "return <start.x>;",
                "`${", "/*", "if (", "<<", ">>"]


def _random_value(rng: random.Random, strings: list[str], yaml_types: bool,
                  depth: int = 0) -> Any:
    roll = rng.randrange(14 if yaml_types else 11)
    if roll == 0:
        return None
    if roll == 1:
        return rng.choice([True, False])
    if roll == 2:
        return rng.choice([0, 1, -1, 3, 2**31, 2**63, -(2**70), 10**30])
    if roll == 3:
        return rng.choice([0.5, -0.0, 1e308, 1e-308, float("inf"), float("nan")])
    if roll in (4, 5):
        return rng.choice(strings) if strings and rng.random() < 0.7 else rng.choice(_ODD_STRINGS)
    if roll == 6 and depth < 3:
        return [_random_value(rng, strings, yaml_types, depth + 1) for _ in range(rng.randrange(4))]
    if roll == 7 and depth < 3:
        return {rng.choice(strings or ["k"]): _random_value(rng, strings, yaml_types, depth + 1)
                for _ in range(rng.randrange(4))}
    if roll == 8:
        return int("9" * rng.choice([20, 400]))
    if roll < 11 or not yaml_types:
        return rng.choice(strings) if strings else "x"
    # YAML only: values JSON has no type for
    import datetime

    return rng.choice([datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5),
                       b"\x00\xffbytes", {1: "int key", None: "null key", 2.5: "float key"},
                       {True: "bool key", datetime.date(2024, 1, 1): "date key"}])


def _mutate_once(rng: random.Random, doc: Any, strings: list[str], yaml_types: bool,
                 nests: list[tuple[str, str]]) -> Any:
    paths = _paths(doc)
    path = rng.choice(paths)
    node = _get(doc, path)
    op = rng.randrange(9)
    if op == 0:  # a value of another type
        value = _random_value(rng, strings, yaml_types)
        for _ in range(4):
            if type(value) is not type(node):
                break
            value = _random_value(rng, strings, yaml_types)
        return _set(doc, path, value)
    if op == 1 and path:  # delete
        parent = _get(doc, path[:-1])
        del parent[path[-1]]
        return doc
    if op == 2 and path:  # duplicate
        parent = _get(doc, path[:-1])
        if isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), copy.deepcopy(node))
        else:
            parent[rng.choice(strings or ["dup"])] = copy.deepcopy(node)
        return doc
    if op == 3:  # swap two nodes
        other = rng.choice(paths)
        if other[:len(path)] != path and path[:len(other)] != other:
            a, b = copy.deepcopy(node), copy.deepcopy(_get(doc, other))
            doc = _set(doc, path, b)
            return _set(doc, other, a)
        return doc
    if op == 4:  # nest: a few levels, or very many (spliced into the text)
        if rng.random() < 0.25:
            marker = f"{_MARK}{len(nests)}"  # ends in "z" in the text
            depth = rng.choice([100, 1_000, 10_000, 100_000])
            opener, closer = ("[", "]") if rng.random() < 0.5 else ('{"k": ', "}")
            nests.append((marker, opener * depth + "1" + closer * depth))
            return _set(doc, path, marker + "z")
        for _ in range(rng.randrange(1, 6)):
            node = [node] if rng.random() < 0.5 else {rng.choice(strings or ["k"]): node}
        return _set(doc, path, node)
    if op == 5 and isinstance(node, str):  # a JSON text inside (conditions, routes): mutate it
        try:
            inner = json.loads(node)
        except ValueError:
            return _set(doc, path, rng.choice(strings) if strings else "")
        if isinstance(inner, (dict, list)) and inner:
            inner = _mutate_once(rng, inner, strings, False, [])
        return _set(doc, path, json.dumps(inner))
    if op == 6 and path and isinstance(path[-1], str):  # rename a key
        parent = _get(doc, path[:-1])
        parent[rng.choice(strings or ["k"])] = parent.pop(path[-1])
        return doc
    if op == 7 and isinstance(node, (dict, list)):  # empty it
        return _set(doc, path, type(node)())
    if op == 7:  # a number past Python's int/str conversion limit
        marker = f"{_MARK}{len(nests)}"  # ends in "z" in the text
        nests.append((marker, "9" * 5000))
        return _set(doc, path, marker + "z")
    return _set(doc, path, rng.choice(strings) if strings else "")


def mutate(rng: random.Random, doc: Any, yaml_types: bool) -> tuple[Any, list[tuple[str, str]]]:
    """``doc`` (a fresh copy) with 1-4 mutations, and the (marker, raw text) to splice in
    (deep nesting, numbers too long to dump: written into the text)."""
    doc = copy.deepcopy(doc)
    strings = _strings(doc)
    nests: list[tuple[str, str]] = []
    for _ in range(rng.randint(1, 4)):
        try:
            doc = _mutate_once(rng, doc, strings, yaml_types, nests)
        except (KeyError, IndexError, TypeError):
            continue
    return doc, nests


def _splice(text: str, nests: list[tuple[str, str]]) -> str:
    for marker, raw in nests:
        text = re.sub(f"[\"']?{marker}z[\"']?", lambda _: raw, text, count=1)
    return text


def _bytes_mutation(rng: random.Random, text: str) -> str:
    if not text:
        return text
    at = rng.randrange(len(text))
    roll = rng.randrange(4)
    if roll == 0:
        return text[:at]
    if roll == 1:
        return text[:at] + rng.choice("{}[]\":,\\\n\t &*!%@`|>-#?") + text[at:]
    if roll == 2:
        return text[:at] + text[at + rng.randrange(1, 20):]
    return text[:at] + text[at:at + 40] * rng.randrange(2, 5) + text[at:]


_YAML_TRICKS = ["&a x", "*a", "!!binary aGVsbG8=", "2024-01-02", "2024-01-02T03:04:05Z",
                "!!set {a, b}", "!!omap [{a: 1}]", ".inf", ".nan", "0x1F", "0o17", "1_000",
                "~", "!!python/name:os.system", "!custom x", "!!str", "!!int x", "? [a, b]",
                "{1: a, null: b, 2024-01-01: c}", "[[[[[[[[1]]]]]]]]", "|\n  text", ">-\n  text",
                "'unterminated", "\"\\x00\"", "!!float 1e400", "9" * 5000, "<<: {a: 1}",
                "*undefined_alias", "&anchor_only"]


def _yaml_text(rng: random.Random, doc: Any, nests: list[tuple[str, str]]) -> str:
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=rng.random() < 0.3)
    text = _splice(text, nests)
    roll = rng.random()
    if roll < 0.2:  # a YAML feature where a scalar was
        lines = text.splitlines()
        candidates = [i for i, line in enumerate(lines) if ": " in line]
        if candidates:
            i = rng.choice(candidates)
            head = lines[i].split(": ", 1)[0]
            lines[i] = f"{head}: {rng.choice(_YAML_TRICKS)}"
            text = "\n".join(lines) + "\n"
    elif roll < 0.3:  # an anchor on one mapping, aliases to it elsewhere
        lines = text.splitlines()
        maps = [i for i, line in enumerate(lines) if line.rstrip().endswith(":")]
        if maps:
            i = rng.choice(maps)
            lines[i] = lines[i] + " &shared"
            j = rng.choice([k for k, line in enumerate(lines) if ": " in line] or [i])
            if j > i:
                head = lines[j].split(": ", 1)[0]
                lines[j] = f"{head}: *shared"
            text = "\n".join(lines) + "\n"
    elif roll < 0.35:
        text = _alias_bomb(rng.randint(3, 12)) + text
    elif roll < 0.45:
        text = _bytes_mutation(rng, text)
    return text


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# --- seeds ------------------------------------------------------------------------------


def sim_seeds() -> list[Any]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SIM_CASES.glob("*.export.json"))]


def yaml_seeds() -> list[Any]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(WORKFLOWS.glob("*.yaml"))
            if not p.name.endswith(".test.yaml")]


_PARAMS: dict[str, Any] = {
    "function": {"code": "return <start.x> + 1"},
    "api": {"url": "https://example.com/<start.x>", "method": "POST", "headers": {"a": "<start.x>"},
            "body": {"nested": ["<start.x>", {"deeper": "<start>"}]}},
    "condition": {"conditions": [{"id": "big", "title": "if", "value": "<start.x> > 5"},
                                 {"id": "other", "title": "else", "value": ""}]},
    "variables": {"variables": [{"variableName": "counter", "value": "<start.x>"}]},
    "wait": {"timeValue": "1", "timeUnit": "seconds"},
    "response": {"dataMode": "json", "data": {"ok": True, "x": "<start.x>"}, "status": 201},
    "loop": {"loopType": "forEach", "collection": "<start.items>"},
    "parallel": {"parallelType": "count", "count": 3},
    "agent": {"model": "gpt-4o", "messages": [{"role": "user", "content": "<start.x>"}]},
    "approval": {"approvers": ["a@example.com"], "form": [{"name": "ok", "type": "boolean"}]},
    "workflow": {"workflow": "child", "input": {"x": "<start.x>"}},
}


def generated_yaml_doc(rng: random.Random) -> dict[str, Any]:
    """A small valid workflow of random blocks, edges and containers."""
    blocks: list[dict[str, Any]] = [{"id": "start", "type": "start", "params": {"inputFormat": [
        {"name": "x", "type": "number", "value": 1}, {"name": "items", "type": "array"}]}}]
    edges: list[Any] = []
    scope: dict[str, str | None] = {"start": None}
    kinds: dict[str, str] = {"start": "start"}
    for i in range(rng.randint(1, 8)):
        kind = rng.choice([k for k in sorted(_PARAMS) if k != "workflow"])
        bid = f"b{i}"
        containers = [b for b, k in kinds.items() if k in ("loop", "parallel")]
        parent = rng.choice([None, *containers]) if containers and rng.random() < 0.5 else None
        block: dict[str, Any] = {"id": bid, "type": kind, "name": f"Block {i}",
                                 "params": copy.deepcopy(_PARAMS[kind])}
        if parent is not None:
            block["parent"] = parent
        if kind in ("function", "api") and rng.random() < 0.2:
            block["retry"] = {"enabled": True, "maxTries": rng.randint(0, 9)}
        siblings = [b for b, p in scope.items() if p == parent and kinds[b] != "response"]
        if parent is not None and (not siblings or rng.random() < 0.3):
            source, handle = parent, f"{kinds[parent]}-start-source"
        elif siblings:
            source = rng.choice(siblings)
            handle = {"condition": rng.choice(["condition-big", "condition-other"]),
                      "loop": "loop-end-source", "parallel": "parallel-end-source"}.get(
                          kinds[source], rng.choice(["source", "source", "error"]))
            if handle == "error" and kinds[source] in ("start", "variables", "wait"):
                handle = "source"
        else:
            continue
        edges.append(f"{source} -> {bid}" if handle == "source" else f"{source} -[{handle}]-> {bid}")
        blocks.append(block)
        scope[bid], kinds[bid] = parent, kind
        if kind in ("loop", "parallel"):  # a container needs a block inside
            blocks.append({"id": f"c{i}", "type": "function", "parent": bid,
                           "params": {"code": f"return <{kind}.index>"}})
            edges.append(f"{bid} -[{kind}-start-source]-> c{i}")
            scope[f"c{i}"], kinds[f"c{i}"] = bid, "function"
    doc: dict[str, Any] = {"version": 1, "name": f"generated-{rng.randrange(1000)}",
                           "blocks": blocks, "edges": edges}
    if rng.random() < 0.3:
        doc["variables"] = [{"name": "counter", "type": "number", "value": 0}]
    if rng.random() < 0.2:
        doc["triggers"] = [{"type": "schedule", "cron": "0 9 * * ? *"}]
    return doc


def large_yaml_doc(rng: random.Random) -> dict[str, Any]:
    """A long chain of blocks or containers nested deep: around the size limits."""
    if rng.random() < 0.5:
        count = rng.choice([500, 1_500, 2_001])
        blocks = [{"id": "start", "type": "start"}] + [{"id": f"b{i}", "type": "variables"}
                                                       for i in range(count)]
        edges = ["start -> b0"] + [f"b{i} -> b{i + 1}" for i in range(count - 1)]
        return {"version": 1, "name": "chain", "blocks": blocks, "edges": edges}
    depth, kind = rng.choice([8, 32, 33, 200]), rng.choice(["loop", "parallel"])
    blocks = [{"id": "start", "type": "start"}] + [
        {"id": f"c{i}", "type": kind, "params": {"count": 2}, **({"parent": f"c{i - 1}"} if i else {})}
        for i in range(depth)] + [{"id": "x", "type": "function", "parent": f"c{depth - 1}",
                                   "params": {"code": "return 1"}}]
    edges = ["start -> c0"] + [f"c{i} -[{kind}-start-source]-> c{i + 1}" for i in range(depth - 1)]
    return {"version": 1, "name": "nested", "blocks": blocks,
            "edges": edges + [f"c{depth - 1} -[{kind}-start-source]-> x"]}


def generate(fmt: str, rng: random.Random, seeds: list[Any]) -> tuple[str, str]:
    """(file suffix, text) of one input."""
    if fmt == "sim":
        doc, nests = mutate(rng, rng.choice(seeds), yaml_types=False)
        text = json.dumps(doc, indent=rng.choice([None, 2]))
        text = _splice(text, nests)
        if rng.random() < 0.05:
            text = _bytes_mutation(rng, text)
        return ".json", text
    if rng.random() < 0.005:
        return ".yaml", yaml.safe_dump(large_yaml_doc(rng), sort_keys=False)
    base = generated_yaml_doc(rng) if rng.random() < 0.5 else rng.choice(seeds)
    if rng.random() < 0.15:  # a valid input now and then keeps the compiler in reach
        return ".yaml", yaml.safe_dump(base, sort_keys=False, allow_unicode=True)
    doc, nests = mutate(rng, base, yaml_types=True)
    return ".yaml", _yaml_text(rng, doc, nests)


# --- the worker -------------------------------------------------------------------------


def _crash_site(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "stepweave" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    where = frame.filename.split("shared/", 1)[-1]
    return f"{type(exc).__name__} at {where}:{frame.lineno} ({frame.name})"


def _run(argv: list[str]) -> tuple[int, str]:
    """(exit code, crash site or '') of one in-process CLI call."""
    from stepweave.cli import main

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(argv)
    except BaseException as exc:  # noqa: BLE001 - anything out of main() is a crash
        return 1, _crash_site(exc)
    if code not in (0, 2):
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                main(["--debug", *argv])
        except BaseException as exc:  # noqa: BLE001
            return code, _crash_site(exc)
        return code, out.getvalue().strip().splitlines()[-1][:200]
    return code, ""


def _worker(conn: Any, folder: str) -> None:
    sys.path.insert(0, str(ROOT / "shared"))
    import stepweave.cli  # noqa: F401 - imported once, before the clock starts

    while True:
        job = conn.recv()
        if job is None:
            return
        suffix, text = job
        path = Path(folder) / f"input{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, site = _run(["validate", str(path)])
        if code == 0:
            code, site = _run(["compile", str(path), "-o", str(Path(folder) / "out.json")])
        if code in (0, 2) and suffix == ".json" and not site:
            imported, site = _run(["import", str(path), "-o", str(Path(folder) / "out.yaml")])
            code = code if imported in (0, 2) else imported
        conn.send((code, site))


@dataclass
class Tally:
    tried: int = 0
    accepted: int = 0
    refused: int = 0
    crashes: int = 0
    hangs: int = 0
    slowest: float = 0.0
    sites: Counter[str] = field(default_factory=Counter)


class Worker:
    """One worker process; replaced when an input hangs it."""

    def __init__(self, folder: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, folder), daemon=True)
        self.proc.start()
        self.folder = folder

    def run(self, suffix: str, text: str, timeout: float) -> tuple[int, str] | None:
        self.conn.send((suffix, text))
        if self.conn.poll(timeout):
            return self.conn.recv()  # type: ignore[no-any-return]
        self.proc.kill()
        self.proc.join()
        return None

    def close(self) -> None:
        if self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)


def fuzz(fmt: str, count: int, seed: int, timeout: float, save: Path | None) -> Tally:
    rng = random.Random(f"{fmt}-{seed}")
    seeds = sim_seeds() if fmt == "sim" else yaml_seeds()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="stepweave-fuzz-") as folder:
        worker = Worker(folder)
        # the first call pays the imports (and V8's start): not an input's time
        worker.run(".yaml", yaml.safe_dump(yaml_seeds()[0]), 120)
        for i in range(count):
            suffix, text = generate(fmt, rng, seeds)
            t0 = time.perf_counter()
            result = worker.run(suffix, text, timeout)
            tally.slowest = max(tally.slowest, time.perf_counter() - t0)
            tally.tried += 1
            if result is None:
                tally.hangs += 1
                tally.sites["hang"] += 1
                worker = Worker(folder)
                worker.run(".yaml", yaml.safe_dump(yaml_seeds()[0]), 120)
            else:
                code, site = result
                if code == 0:
                    tally.accepted += 1
                elif code == 2 and not site:
                    tally.refused += 1
                else:
                    tally.crashes += 1
                    tally.sites[site] += 1
            if save is not None and (result is None or result[0] not in (0, 2) or result[1]):
                save.mkdir(parents=True, exist_ok=True)
                (save / f"{fmt}-{i}{suffix}").write_text(text, encoding="utf-8",
                                                         errors="surrogatepass")
        worker.close()
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="inputs per format")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input")
    parser.add_argument("--format", choices=("sim", "yaml"), action="append")
    parser.add_argument("--jobs", type=int, default=2, help="formats fuzzed at once")
    parser.add_argument("--save", type=Path, help="keep crashing and hanging inputs here")
    args = parser.parse_args()
    formats = args.format or ["sim", "yaml"]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(min(args.jobs, len(formats))) as pool:  # each drives a worker process
        tallies = list(pool.map(lambda f: fuzz(f, args.count, args.seed, args.timeout, args.save),
                                formats))
    print(f"{'format':<7} {'tried':>7} {'accepted':>9} {'refused':>8} {'crashes':>8} {'hangs':>6} "
          f"{'slowest s':>10}")
    for fmt, t in zip(formats, tallies):
        print(f"{fmt:<7} {t.tried:>7} {t.accepted:>9} {t.refused:>8} {t.crashes:>8} {t.hangs:>6} "
              f"{t.slowest:>10.2f}")
    for fmt, t in zip(formats, tallies):
        for site, n in t.sites.most_common():
            print(f"  {fmt}: {n} x {site}")
    print(f"seed {args.seed}, timeout {args.timeout:g} s per input, {time.perf_counter() - t0:.0f} s")
    return 1 if any(t.crashes or t.hangs for t in tallies) else 0


if __name__ == "__main__":
    raise SystemExit(main())
