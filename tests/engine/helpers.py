"""Compile a workflow written inline and run it on the embedded engine."""

from __future__ import annotations

from typing import Any

from stepweave.compiler import CompiledWorkflow, compile_workflow
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.runtime.history import block_runs
from stepweave.workflow.loader import parse_workflow, parse_yaml


def compile_text(text: str) -> CompiledWorkflow:
    return compile_workflow(parse_workflow(parse_yaml(text), "<test>"), "<test>")


def run_text(engine: LocalEngine, text: str, payload: Any = None) -> tuple[RunResult, list[str]]:
    compiled = compile_text(text)
    result = engine.run(compiled, payload if payload is not None else {})
    return result, [r.name for r in block_runs(result.events, compiled.manifest())]
