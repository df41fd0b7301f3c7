"""``compile_workflow``: Workflow -> ASL definition + manifest (pure, deterministic)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from stepweave.compiler.aslcheck import check_definition
from stepweave.compiler.compiled import CompiledWorkflow
from stepweave.compiler.estimate import history_warnings
from stepweave.compiler.exprs import entries
from stepweave.compiler.family import compile_children
from stepweave.compiler.graph import GEdge, Graph, back_edges, build_graph
from stepweave.compiler.jsonata_syntax import jsonata_fields
from stepweave.compiler.lower import Lowerer
from stepweave.compiler.native import wait_seconds
from stepweave.compiler.split import split_compiled
from stepweave.compiler.notify import with_link_tokens
from stepweave.compiler.states import Ctx, patch
from stepweave.compiler.unsupported import UnsupportedBlocks, unsupported_problems
from stepweave.compiler.validate import validate_graph
from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.model import Workflow

__all__ = ["CompiledWorkflow", "compile_workflow", "MAX_DEFINITION_BYTES"]

MAX_DEFINITION_BYTES = 1_048_576
EXPRESS_LIMIT_SECONDS = 300


def _choose_type(graph: Graph, file: str) -> tuple[str, list[Problem]]:
    reasons = []
    for node in graph.nodes:
        block = graph.blocks[node]
        seconds = wait_seconds(block.params) if block.type == "wait" else 0
        if block.type == "wait" and (block.params.get("async")
                                      or (seconds is not None and seconds > EXPRESS_LIMIT_SECONDS)):
            reasons.append(f"block '{block.id}' waits longer than Express allows (5 minutes)")
        if graph.types[node].name == "approval":
            reasons.append(f"approval '{block.id}' waits for a person (up to a year)")
        if block.type == "loop" and block.params.get("loopType") in ("while", "doWhile"):
            reasons.append(f"loop '{block.id}' has no fixed bound")
        if graph.types[node].name == "workflow":
            reasons.append(f"sub-workflow '{block.id}' waits for a nested execution")
        if block.type in ("loop", "parallel") and block.params.get("mode") == "distributed":
            reasons.append(f"{block.type} '{block.id}' runs distributed (child executions)")
    requested = graph.workflow.type
    if requested == "express" and reasons:
        return "EXPRESS", [Problem(file, f"workflow type 'express' is not possible: {r}", None, "type")
                           for r in reasons]
    if requested == "express":
        return "EXPRESS", []
    if requested == "standard" or reasons:
        return "STANDARD", []
    return "EXPRESS", []


def _final_output(lw: Lowerer, ctx: Ctx) -> str:
    terminals = [n for n in lw.graph.region(None) if not lw.graph.outgoing(n)]
    if not terminals:
        return "{}"
    items = [lw.visible(n, ctx) for n in terminals]
    return f"($e := {entries(items)}; $exists($e) ? $e[-1].o : {{}})"


def compile_graph(graph: Graph, workflow_type: str = "EXPRESS") -> tuple[dict[str, Any], Lowerer]:
    lw = Lowerer(graph, workflow_type=workflow_type)
    scope = lw.new_scope(None)
    ctx = Ctx(scope, [], top=True)
    states: dict[str, Any] = {}
    entry, dangling = lw.emit(lw.region_tree(None), ctx, states)
    done = lw.names.take("Done")
    if entry is None or dangling:
        # the final output; not when every path already ends the run (a response block):
        # Step Functions refuses a state nothing transitions to
        states[done] = {"Type": "Pass", "Output": "{% " + _final_output(lw, ctx) + " %}", "End": True}
        patch(dangling, done)
    if lw.response_catchers:
        respond = lw.names.take("Respond")
        states[respond] = {"Type": "Succeed"}
        for state in lw.response_catchers:
            for catch in state.get("Catch", []):
                if catch.get("Next") == "__RESPOND__":
                    catch["Next"] = respond
    if scope.fail_state is not None:
        states[scope.fail_state] = states.pop(scope.fail_state)
    definition = {"Comment": f"Stepweave workflow {graph.workflow.name}",
                  "QueryLanguage": "JSONata", "StartAt": entry or done, "States": states}
    return definition, lw


def compile_workflow(workflow: Workflow, file: str = "<workflow>", *, folder: Path | None = None,
                     _stack: tuple[str, ...] = (), split: bool | None = None) -> CompiledWorkflow:
    """Validate and compile. Raises ``WorkflowError`` listing every problem.

    Sub-workflows are found in ``folder`` (default: the folder of ``file`` when it is a
    file) and compiled too (``CompiledWorkflow.children``). ``split``: split a Standard
    workflow into Express stretches (``stepweave.compiler.split``) or not, whatever its
    file's ``split`` says."""
    graph = build_graph(with_link_tokens(workflow), file)
    problems = list(graph.problems) + validate_graph(graph)
    if problems:
        raise WorkflowError(problems + _lowering_problems(graph, file))
    workflow_type, type_problems = _choose_type(graph, file)
    try:
        definition, lw = compile_graph(graph, workflow_type)
    except RecursionError:
        # the lowering still walks the fork/join tree recursively: a workflow nesting
        # Parallel states some 250 deep ends here (nested diamonds pass 1 MiB before that)
        raise WorkflowError([Problem(file, too_deep_message(workflow.name, len(graph.nodes)))]) \
            from None
    problems = type_problems + [Problem(file, message, node, field) for node, field, message in lw.problems]
    children: dict[str, CompiledWorkflow] = {}
    if lw.subworkflows:
        if folder is None and Path(file).is_file():
            folder = Path(file).parent
        nodes = {str(graph.blocks[n].params.get("workflow")): n for n in graph.nodes
                 if graph.types[n].name == "workflow"}
        children, child_problems = compile_children(
            workflow.name, sorted(lw.subworkflows), nodes, file, folder, _stack,
            lambda wf, f, d, chain: compile_workflow(wf, f, folder=d, _stack=chain))
        problems += child_problems
    size = len(json.dumps(definition, separators=(",", ":")).encode("utf-8"))
    too_large = size > MAX_DEFINITION_BYTES
    # a definition too large to deploy is not parsed for the JSONata checks (a second or more
    # of V8 for a few megabytes): the structural checks still run
    problems += _definition_problems(definition, lw, file, jsonata=not too_large)
    if too_large:
        problems.append(Problem(file, too_large_message(workflow.name, size, len(graph.nodes))))
    if problems:
        raise WorkflowError(problems)
    unsupported = unsupported_problems(graph)
    if unsupported:
        raise UnsupportedBlocks(unsupported)
    blocks = {n: (graph.blocks[n].name, graph.types[n].name) for n in graph.nodes}
    return split_compiled(CompiledWorkflow(workflow.name, definition, workflow_type, tuple(sorted(lw.handlers)),
                            dict(lw.state_map), blocks,
                            {n: tuple(graph.ancestors_containers(n)) for n in graph.nodes},
                            {n: lw.stems[n] for n in graph.nodes}, tuple(workflow.triggers),
                            children, _notify_tools(graph),
                            {h: tuple(sorted(n)) for h, n in sorted(lw.secret_names.items())},
                            tuple(Problem(file, message, block)
                                  for block, message in history_warnings(graph, workflow_type, definition,
                                                                         lw.state_map)),
                            tuple(sorted(lw.written_secrets))), graph, file, split)


def _lowering_problems(graph: Graph, file: str) -> list[Problem]:
    """What lowering finds (references, conditions) in a graph that has structural problems
    too, so that one report lists them all. The graph is lowered without the edges that
    close a cycle and with each id once; whatever it emits is thrown away. A graph too broken to lower (the
    lowering fails) reports its structural problems alone: they come first."""
    usable = replace(graph, nodes=list(dict.fromkeys(graph.nodes)), edges=_acyclic(graph),
                     children={c: list(dict.fromkeys(ns)) for c, ns in graph.children.items()})
    try:
        _definition, lw = compile_graph(usable)
    except Exception:  # noqa: BLE001 - a broken graph may break the lowering in any way
        return []
    return [Problem(file, message, node, field) for node, field, message in lw.problems]


def _acyclic(graph: Graph) -> list[GEdge]:
    """The graph's edges without those that close a cycle (``graph.back_edges``)."""
    back = {id(edge) for edge, _cycle in back_edges(graph.nodes, graph.edges)}
    return [e for e in graph.edges if id(e) not in back]


def too_large_message(name: str, size: int, blocks: int) -> str:
    """The problem of a definition past Step Functions' limit, and what to do about it."""
    return (f"definition too large: workflow '{name}' ({blocks:,} blocks) compiles to a Step "
            f"Functions definition of {size:,} bytes; Step Functions allows "
            f"{MAX_DEFINITION_BYTES:,} (1 MiB). Split it into sub-workflows: move a stretch of "
            "blocks into another workflow file and run it with a 'workflow' block "
            "(docs/blocks.md)")


def too_deep_message(name: str, blocks: int) -> str:
    """The problem of a workflow whose fork/joins nest past what the lowering can walk."""
    return (f"nested too deeply: workflow '{name}' ({blocks:,} blocks) nests parallel branches "
            "(fork/joins) more deeply than the compiler can lower; split it into sub-workflows: "
            "move a stretch of blocks into another workflow file and run it with a 'workflow' "
            "block (docs/blocks.md)")


def _definition_problems(definition: dict[str, Any], lw: Lowerer, file: str,
                         jsonata: bool = True) -> list[Problem]:
    """What Step Functions would refuse in the emitted definition, naming the block behind
    the state (``stepweave.compiler.aslcheck``): a compiler fault, reported before deploy.
    ``jsonata``: parse the JSONata expressions too (jsonata-js in V8)."""
    found: list[Problem] = []

    def report(state: str, message: str) -> None:
        block = lw.state_map.get(state, (None, ""))[0]
        found.append(Problem(file, f"the compiled definition is not valid for Step Functions: "
                                   f"{message}", block))

    check_definition(definition, report, jsonata_fields() if jsonata else None)
    return sorted(set(found))


def _notify_tools(graph: Graph) -> tuple[str, ...]:
    return tuple(sorted({str(spec.get("tool")) for n in graph.nodes if graph.types[n].name == "approval"
                         for spec in graph.blocks[n].params.get("notify") or [] if isinstance(spec, dict)}))
