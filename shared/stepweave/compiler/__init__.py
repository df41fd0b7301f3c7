"""Workflow -> Amazon States Language."""

from __future__ import annotations

from stepweave.compiler.compile import CompiledWorkflow, compile_workflow

__all__ = ["CompiledWorkflow", "compile_workflow"]
