"""Property: whatever a workflow file holds, ``stepweave validate`` ends in exit 0 or 2 (a
report naming the file), never an internal error; a file it accepts compiles.

Seeded (``derandomize``) mutations of the Sim scenario exports, of the example workflows and
of generated ones: a node replaced by a value of another type, keys deleted, nodes
duplicated or nested (a little, or far past the limits), YAML features spliced in. The
longer run is ``bench/fuzz_workflows.py``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from stepweave.cli import main  # noqa: E402
from stepweave.compiler import compile_workflow  # noqa: E402
from stepweave.errors import WorkflowError  # noqa: E402
from stepweave.workflow.loader import load_workflow, workflow_files  # noqa: E402
from tests.conftest import ROOT, sim_cases_dir  # noqa: E402

SIM = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(sim_cases_dir().glob("*.export.json"))]
NATIVE = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in workflow_files(ROOT / "workflows")]
FUZZ = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=12) | st.sampled_from(["<start.x>", "{{SECRET}}", "[", "<a.b[0]>", "loop"])
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _paths(doc: Any) -> list[tuple[Any, ...]]:
    out, pending = [], [(doc, ())]
    while pending:
        node, path = pending.pop()
        out.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        pending += [(v, (*path, k)) for k, v in children]
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> tuple[Any, str]:
    """(a mutated copy of one of ``seeds``, raw text to splice in for the marker '@@deep@@')."""
    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    splice = ""
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        node = _at(doc, path)
        op = draw(st.sampled_from(["replace", "delete", "duplicate", "nest", "deep", "json-text"]))
        if op == "replace":
            value = draw(json_values.filter(lambda v, n=node: type(v) is not type(n)))
        elif op == "delete" and path:
            del _at(doc, path[:-1])[path[-1]]
            continue
        elif op == "duplicate" and path and isinstance(_at(doc, path[:-1]), list):
            _at(doc, path[:-1]).append(copy.deepcopy(node))
            continue
        elif op == "nest":
            value = node
            for _ in range(draw(st.integers(1, 8))):
                value = [value]
        elif op == "deep" and not splice:
            depth = draw(st.sampled_from([70, 100, 5_000]))
            splice, value = "[" * depth + "]" * depth, "@@deep@@"
        elif op == "json-text" and isinstance(node, str) and node.startswith("["):
            value = json.dumps(draw(json_values))
        else:
            continue
        if path:
            _at(doc, path[:-1])[path[-1]] = value
        else:
            doc = value
    return doc, splice


@st.composite
def generated(draw: st.DrawFn) -> dict[str, Any]:
    """A workflow of random blocks of known types with random params and edges."""
    kinds = ["function", "api", "condition", "variables", "wait", "response", "loop", "parallel",
             "agent", "router", "approval", "tool", "evaluator", "nope"]
    count = draw(st.integers(1, 5))
    blocks: list[dict[str, Any]] = [{"id": "start", "type": "start"}]
    for i in range(count):
        block: dict[str, Any] = {"id": f"b{i}", "type": draw(st.sampled_from(kinds)),
                                 "params": draw(st.dictionaries(st.sampled_from(
                                     ["code", "url", "conditions", "variables", "count", "collection",
                                      "data", "messages", "model", "tools", "timeValue"]),
                                     json_values, max_size=3))}
        if draw(st.booleans()) and i:
            block["parent"] = f"b{draw(st.integers(0, i - 1))}"
        blocks.append(block)
    ids = [b["id"] for b in blocks]
    edges = [f"{draw(st.sampled_from(ids))} -[{draw(st.sampled_from(['source', 'error', 'x']))}]-> "
             f"{draw(st.sampled_from(ids))}" for _ in range(draw(st.integers(0, 5)))]
    return {"version": 1, "name": "generated", "blocks": blocks, "edges": edges}


YAML_FEATURES = ["&a x", "*a", "!!binary aGVsbG8=", "2024-01-02", ".nan", "{1: a}", "9" * 5000,
                 "!!python/name:os.system ''", "[" * 200 + "]" * 200, "<<: {a: 1}", "'unterminated"]


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="stepweave-fuzz-") as name:
        yield Path(name)


def _check(path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["validate", str(path)])
    assert code in (0, 2), out.getvalue()
    assert "internal error" not in out.getvalue()
    if code == 0:
        try:
            compile_workflow(load_workflow(path), str(path)).definition_json()
        except WorkflowError:
            pass  # valid, but with blocks a run refuses (reported as such)


@FUZZ
@given(case=mutated(SIM), indent=st.sampled_from([None, 1]))
def test_mutated_sim_exports_never_crash(folder: Path, case: tuple[Any, str], indent: int | None) -> None:
    doc, splice = case
    path = folder / "case.export.json"
    path.write_text(json.dumps(doc, indent=indent).replace('"@@deep@@"', splice), encoding="utf-8")
    _check(path)


@FUZZ
@given(case=mutated(NATIVE) | st.tuples(generated(), st.just("")), flow=st.booleans(),
       feature=st.none() | st.sampled_from(YAML_FEATURES), line=st.integers(0, 200))
def test_mutated_and_generated_yaml_never_crash(folder: Path, case: tuple[Any, str], flow: bool,
                                                feature: str | None, line: int) -> None:
    doc, splice = case
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=flow, width=10_000)
    text = text.replace("'@@deep@@'", splice).replace("@@deep@@", splice)
    if feature is not None:  # a YAML feature where a value was
        lines = text.splitlines()
        keyed = [i for i, text_line in enumerate(lines) if ": " in text_line]
        if keyed:
            at = keyed[line % len(keyed)]
            lines[at] = lines[at].split(": ", 1)[0] + ": " + feature
            text = "\n".join(lines) + "\n"
    path = folder / "case.yaml"
    path.write_text(text, encoding="utf-8")
    _check(path)
