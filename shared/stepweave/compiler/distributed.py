"""Containers past one execution's limits: distributed parallels and chunked loops.

A Standard execution holds at most 25,000 history events and a state at most 256 KiB, so
an inline Map over N items (about 6-9 events per item, all results in one state) fails past
a few thousand items, and a Choice back-edge loop past a few thousand iterations. Past a
bound (or when the block says ``mode: distributed``) a container leaves the execution:

* a **parallel** becomes a *distributed* Map: each item is a child execution (Express
  unless its body needs Standard), whose events are not the parent's; results go to the
  payload bucket (``ResultWriter``) and a ``collect`` task reads them back: branch 0's
  block outputs and the results list (stored as a stub when large,
  ``stepweave.runtime.payloads``).
* a **loop** stays sequential (Sim: a block sees its previous iteration's output); its
  iterations run in chunks, each in a child execution of a one-item distributed Map that
  carries the loop's variables in and out (``stepweave.compiler.containers``); a
  ``collect`` task appends each chunk's results.

A child execution does not see its parent's variables: the body's reads of outer variables
(found in its JSONata) are passed in through ``ItemSelector`` and assigned when the child
starts (``isolate``); ``stepweave.compiler.aslcheck`` refuses a child reading one that is
not. Distributed Maps exist in Standard workflows only, at the top level of the workflow
(not inside another container), and not around a response, approval or sub-workflow block
(those need the parent execution itself).
"""

from __future__ import annotations

import re
from typing import Any

from stepweave.compiler.aslcheck import assigned_variables, outer_reads, variables_read
from stepweave.compiler.blocks import FAILED_BLOCK, ensure_fail_state, task_state
from stepweave.compiler.keep import param_strings
from stepweave.compiler.native import wait_seconds
from stepweave.compiler.states import Ctx, Dangling, Lowering, js

__all__ = [
    "DISTRIBUTED_MIN_ITEMS", "EVENT_BUDGET", "CHUNK_EVENTS", "MAX_CHUNK", "COLLECT_HANDLER",
    "PAYLOAD_BUCKET", "PARENT_EXECUTION", "RESULTS_PREFIX", "EXPRESS_WAIT_SECONDS",
    "choose", "blocked", "chunk_size", "iteration_events", "child_execution_type",
    "variables_read", "assigned_variables", "outer_reads", "isolate", "emit_parallel",
    "distributed_map", "failure_catch", "collect_task", "field_reads", "selector_vars",
    "body_nodes",
]

#: a parallel over at least this many items (known when compiling) is distributed
DISTRIBUTED_MIN_ITEMS = 1_000
#: ...as is one whose iterations would add more history events than this to the run
EVENT_BUDGET = 10_000
#: a chunk of a chunked loop runs at most this many events' worth of iterations...
CHUNK_EVENTS = 10_000
#: ...and at most this many iterations (its results return through one state)
MAX_CHUNK = 1_000
#: the handler that reads a distributed Map's results back and appends a chunk's results
COLLECT_HANDLER = "collect"
#: the payload bucket in a definition: CloudFormation's DefinitionSubstitutions (and the
#: embedded engine) put the bucket's name there
PAYLOAD_BUCKET = "${PayloadBucket}"
#: where a distributed Map writes its results in the payload bucket
RESULTS_PREFIX = "stepweave-map-results"
#: the variable holding the parent execution's ARN in a child execution (handlers use it
#: for the payload bucket's keys: stubs are resolved under their execution's prefix)
PARENT_EXECUTION = "parentExecution"
#: Express executions run at most 5 minutes: a longer wait needs a Standard child
EXPRESS_WAIT_SECONDS = 300
_LABEL = re.compile(r"[^A-Za-z0-9]")


def body_nodes(lw: Lowering, node: str) -> list[str]:
    return [n for n in lw.graph.nodes if node in lw.graph.ancestors_containers(n)]


def iteration_events(lw: Lowering, node: str) -> int:
    """About how many history events one iteration adds (two per native state, five per
    Lambda task, two for the iteration itself and two for its export)."""
    return 4 + sum(5 if lw.graph.types[n].kind == "handler" else 2 for n in body_nodes(lw, node))


def blocked(lw: Lowering, node: str, ctx: Ctx) -> str | None:
    """Why the container cannot leave the execution (None: it can)."""
    if ctx.containers:
        return "it is inside another loop or parallel"
    for inner in body_nodes(lw, node):
        kind = lw.graph.types[inner].name
        if kind in ("response", "approval", "workflow"):
            return (f"its block '{lw.graph.blocks[inner].id}' ({kind}) needs the parent "
                    "execution itself")
    return None


def choose(lw: Lowering, node: str, ctx: Ctx, count: int | None) -> bool:
    """Whether the container leaves the execution: ``mode: distributed``, or ``auto`` in a
    Standard workflow with a count known when compiling past the bounds."""
    params = lw.graph.blocks[node].params
    mode = params.get("mode") or "auto"
    if mode == "inline" or lw.workflow_type != "STANDARD":
        return False
    reason = blocked(lw, node, ctx)
    if reason is not None:
        if mode == "distributed":
            lw.problems.append((node, "params.mode", f"mode 'distributed' is not possible: {reason}"))
        return False
    if mode == "distributed":
        return True
    if count is None:
        return False
    if lw.graph.types[node].name == "parallel" and count >= DISTRIBUTED_MIN_ITEMS:
        return True
    return count * iteration_events(lw, node) > EVENT_BUDGET


def chunk_size(lw: Lowering, node: str) -> int:
    """Iterations per chunk of a chunked loop."""
    return max(1, min(MAX_CHUNK, CHUNK_EVENTS // iteration_events(lw, node)))


def child_execution_type(lw: Lowering, node: str, *, sequential: bool = False) -> str:
    """EXPRESS unless the body needs Standard: a wait past Express's 5 minutes (or an
    asynchronous one); for a loop's chunks (``sequential``), also any Lambda task, since
    a chunk of many calls may pass those 5 minutes."""
    for inner in body_nodes(lw, node):
        block = lw.graph.blocks[inner]
        if block.type == "wait":
            seconds = wait_seconds(block.params)
            if block.params.get("async") or seconds is None or seconds > EXPRESS_WAIT_SECONDS:
                return "STANDARD"
        if sequential and lw.graph.types[inner].kind == "handler":
            return "STANDARD"
    return "EXPRESS"


# -- the variables a child execution reads -------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_EXPR = re.compile(r"\{%(.*?)%\}", re.S)
_USE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_])(\.[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_(]))?")


def field_reads(program: dict[str, Any], names: list[str]) -> dict[str, list[str] | None]:
    """For each variable in ``names``: the fields the program reads of it when it only ever
    reads ``$name.field...`` (so the child needs only those), else None (the whole value)."""
    fields: dict[str, set[str] | None] = {name: set() for name in names}
    for text in param_strings(program):
        for expr in _EXPR.findall(text):
            for name, field in _USE.findall(_STRING.sub('""', expr)):
                if name not in fields:
                    continue
                found = fields[name]
                if not field:
                    fields[name] = None
                elif found is not None:
                    found.add(field[1:])
    return {name: None if found is None else sorted(found) for name, found in fields.items()}


def _passed(name: str, fields: list[str] | None) -> str:
    """What the ItemSelector passes of variable ``name``: the value, or only the fields
    the child reads (an item must not carry the whole start input, say, for one field)."""
    if fields is None:
        return js(f"${name}")
    return js("{" + ", ".join(f'"{f}": ${name}.{f}' for f in fields) + "}")


def isolate(program: dict[str, Any], start: str, *, keep: tuple[str, ...] = (),
            assign: dict[str, Any] | None = None) -> list[str]:
    """Make ``program`` a child execution's: it reads the parent's execution ARN from
    ``$parentExecution`` and, in a first Pass named ``start``, assigns every outer variable
    it reads (and those in ``keep``) from ``$states.input.v`` (no Pass when it reads none).
    ``assign``: more variables that Pass sets. Returns the variables the Map's
    ItemSelector must pass in ``v``."""
    replaced = _replace_execution(program)
    extra = assign or {}
    names = sorted((set(outer_reads(program)) | set(keep)) - {PARENT_EXECUTION} - set(extra))
    first = {name: js(f"$states.input.v.{name}") for name in names}
    if replaced:
        first[PARENT_EXECUTION] = js(f"$states.input.{PARENT_EXECUTION}")
    first.update(extra)
    if first:
        program["States"] = {start: {"Type": "Pass", "Assign": first, "Next": program["StartAt"]},
                             **program["States"]}
        program["StartAt"] = start
    return names


def _replace_execution(value: Any) -> bool:
    """``$states.context.Execution.Id`` -> ``$parentExecution`` everywhere in ``value``."""
    found = False
    pending = [value]
    while pending:
        item = pending.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, inner in list(pairs):
            if isinstance(inner, str) and "$states.context.Execution.Id" in inner:
                item[key] = inner.replace("$states.context.Execution.Id", f"${PARENT_EXECUTION}")
                found = True
            elif isinstance(inner, (dict, list)):
                pending.append(inner)
    return found


def selector_vars(names: list[str], program: dict[str, Any] | None = None,
                  whole: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ItemSelector's ``v``: each variable, or (``program`` given) only the fields of
    it the program reads; those in ``whole`` always whole."""
    reads = field_reads(program, [n for n in names if n not in whole]) if program is not None else {}
    return {name: _passed(name, reads.get(name)) for name in names}


def distributed_map(lw: Lowering, node: str, program: dict[str, Any], execution_type: str,
                    selector: dict[str, Any], max_concurrency: int) -> dict[str, Any]:
    """The Map state around a child ``program`` (not yet its flow, Catch or Output)."""
    program["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": execution_type}
    if any(f"${PARENT_EXECUTION}" in text for text in param_strings(program)):
        selector = {**selector, PARENT_EXECUTION: js("$states.context.Execution.Id")}
    return {"Type": "Map", "ItemSelector": selector,
            "ItemProcessor": program, "MaxConcurrency": max_concurrency,
            "Label": (_LABEL.sub("", lw.stems[node]) or "Map")[:40]}


def failure_catch(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> dict[str, Any]:
    """A failed child fails the Map (``States.ExceedToleratedFailureThreshold``; a Map Run
    that cannot start, ``States.ItemReaderFailed``/``States.ResultWriterFailed``): the run
    fails naming the container, as a failed block does."""
    return {"ErrorEquals": ["States.ALL"], "Next": ensure_fail_state(lw, ctx.scope, states),
            "Assign": {FAILED_BLOCK: lw.graph.blocks[node].name}}


def collect_task(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any], role: str,
                 params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = lw.block_state(node, role)
    state = task_state(lw, node, ctx, COLLECT_HANDLER, params, 300)
    state["Catch"] = [failure_catch(lw, node, ctx, states)]
    states[name] = state
    return name, state


# -- parallels ------------------------------------------------------------------------------

def emit_parallel(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any], items: str,
                  program: dict[str, Any], selector: dict[str, Any],
                  import_assign: dict[str, Any], output: str) -> tuple[str, Dangling]:
    """The parallel as a distributed Map writing its results to the payload bucket, then the
    ``collect`` task reading them back.

    ``program`` is the iteration (``branch_program``); ``import_assign`` the Assign of
    branch 0's exports as the inline Map would read them from ``$states.result`` (here
    ``$states.result.heads``: [iteration 0's exports, the last iteration's]); ``output``
    the parallel's output from ``$states.result.results`` and ``.count``."""
    block = lw.graph.blocks[node]
    params = block.params
    name = lw.block_state(node)
    label = lw.names.take(f"{block.name} vars")
    names = isolate(program, label)
    selector = {**selector, "v": selector_vars(names, program)} if names else dict(selector)
    state = distributed_map(lw, node, program, child_execution_type(lw, node), selector,
                            int(params.get("batchSize") or 20))
    state["Items"] = js(items)
    for field in ("toleratedFailurePercentage", "toleratedFailureCount"):
        if params.get(field) is not None:
            state[field[0].upper() + field[1:]] = params[field]
    state["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                             "Arguments": {"Bucket": PAYLOAD_BUCKET,
                                           "Prefix": f"{RESULTS_PREFIX}/{lw.graph.workflow.name}"}}
    state["Output"] = js("$states.result.ResultWriterDetails")
    state["Catch"] = [failure_catch(lw, node, ctx, states)]
    states[name] = state
    collect, task = collect_task(lw, node, ctx, states, "results", {
        "op": "parallel", "bucket": js("$states.input.Bucket"), "key": js("$states.input.Key")})
    state["Next"] = collect
    task["Arguments"]["keep"] = ["heads", "count"]  # read by native states: stays inline
    task["Assign"] = {**import_assign, lw.bvar(node, ctx.scope): js(output),
                      **lw.timed(node, ctx.scope, js("$millis()"))}
    return name, [(task, "Next")]
