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
from collections.abc import Mapping
from typing import Any

from stepweave.compiler.aslcheck import assigned_variables, outer_reads, variables_read
from stepweave.compiler.blocks import FAILED_BLOCK, ensure_fail_state, task_state
from stepweave.compiler.keep import param_strings
from stepweave.compiler.native import wait_seconds
from stepweave.compiler.states import Ctx, Dangling, Lowering, js
from stepweave.errors import BLOCK_FAILED_ERROR

__all__ = [
    "DISTRIBUTED_MIN_ITEMS", "EVENT_BUDGET", "CHUNK_EVENTS", "MAX_CHUNK", "COLLECT_HANDLER",
    "PAYLOAD_BUCKET", "PARENT_EXECUTION", "RESULTS_PREFIX", "EXPRESS_WAIT_SECONDS",
    "choose", "blocked", "chunk_size", "iteration_events", "child_execution_type",
    "variables_read", "assigned_variables", "outer_reads", "isolate", "emit_parallel",
    "distributed_map", "failure_catch", "collect_task", "field_reads", "selector_vars",
    "body_nodes", "map_catches", "FAILURES_FOLDER", "failure_key", "record_failures",
    "distributed_maps",
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
#: where (under the results prefix) a failed child execution records its error for the
#: parent (``record_failures``): the first failed item's, as an inline container fails with
FAILURES_FOLDER = "failed"
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
    """A Map Run that cannot start or finish (``States.ItemReaderFailed``,
    ``States.ResultWriterFailed``...), or a collect task that fails: the run fails naming
    the container, as a failed block does."""
    return {"ErrorEquals": ["States.ALL"], "Next": ensure_fail_state(lw, ctx.scope, states),
            "Assign": {FAILED_BLOCK: lw.graph.blocks[node].name}}


# -- a failed item fails the run as inline ---------------------------------------------------
#
# Inline, a block failing in a parallel or loop fails the run with that block's error. A
# distributed Map fails with ``States.ExceedToleratedFailureThreshold`` instead, and its
# error does not say which item failed nor why (nor where ResultWriter put the results:
# the Catch gets only the error). So each child execution records its own error before it
# fails, in the payload bucket at one key per run and container; the first to fail wins
# (``IfNoneMatch``, a conditional write), as an inline Map fails with its first failure.
# When the Map fails, the collect task reads that record back and the run fails through
# the same Fail state, with the same error and cause, as inline.

_RECORD = "arn:aws:states:::aws-sdk:s3:putObject"
_THRESHOLD = "States.ExceedToleratedFailureThreshold"


def failure_key(lw: Lowering, node: str) -> str:
    """The record's key (JSONata): in a child program, ``$states.context.Execution.Id``
    becomes the parent's (``isolate``), so child and parent compute the same key."""
    import json

    head = f"{RESULTS_PREFIX}/{lw.graph.workflow.name}/{FAILURES_FOLDER}/"
    return (f'{json.dumps(head)} & $split($states.context.Execution.Id, ":")[-1] & '
            f'{json.dumps("/" + lw.stems[node] + ".json")}')


def _retarget(states: dict[str, Any], old: str, new: str) -> None:
    """Every transition to ``old`` among ``states`` (one program's level) goes to ``new``."""
    for state in states.values():
        for holder in [state, *state.get("Catch", []), *state.get("Choices", [])]:
            for field in ("Next", "Default"):
                if holder.get(field) == old:
                    holder[field] = new


def record_failures(lw: Lowering, node: str, program: dict[str, Any]) -> None:
    """Make the child ``program`` record its error (``{"Error", "Cause"}`` as the inline
    container would raise it to the run's Catch) before it fails: a Task writing it to the
    payload bucket in front of each block-failure Fail state, and for a nested container
    that fails without a Catch, a Catch recording its error and failing with it. Costs
    nothing until an item fails (one state transition then)."""
    states: dict[str, Any] = program["States"]
    key = js(failure_key(lw, node))
    block_error = ('$string({"Error": "' + BLOCK_FAILED_ERROR + '", "Cause": $string({"block": $'
                   + FAILED_BLOCK + ', "Error": $states.input.Error, "Cause": $states.input.Cause})})')

    def recorder(name: str, body: str, following: str) -> str:
        record = lw.names.take(f"{name} (record)")
        states[record] = {
            "Type": "Task", "Resource": _RECORD,
            "Arguments": {"Bucket": PAYLOAD_BUCKET, "Key": key, "IfNoneMatch": "*",
                          "ContentType": "application/json", "Body": js(body)},
            "Output": js("$states.input"), "Next": following,
            # an item that failed later (the record exists) fails all the same
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": js("$states.input"),
                       "Next": following}]}
        return record

    for name, state in list(states.items()):
        if state.get("Type") == "Fail" and state.get("Error") == BLOCK_FAILED_ERROR:
            before = dict(states)  # what transitions to the Fail state now (not its recorder)
            _retarget(before, name, recorder(name, block_error, name))
        elif state.get("Type") in ("Map", "Parallel") and not any(
                "States.ALL" in c.get("ErrorEquals", []) for c in state.get("Catch", [])):
            rethrow = lw.names.take(f"{name} failed")
            states[rethrow] = {"Type": "Fail", "Error": js("$states.input.Error"),
                               "Cause": js("$states.input.Cause")}
            raw = '$string({"Error": $states.input.Error, "Cause": $states.input.Cause})'
            state.setdefault("Catch", []).append(
                {"ErrorEquals": ["States.ALL"], "Next": recorder(name, raw, rethrow)})


def map_catches(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> list[dict[str, Any]]:
    """The distributed Map's Catch: past its tolerated failures, the collect task reads the
    first failed item's record and the run fails with that item's error, through the Fail
    state an inline container's failure goes to; anything else names the container."""
    task = task_state(lw, node, ctx, COLLECT_HANDLER, {
        "op": "failed", "bucket": PAYLOAD_BUCKET, "key": js(failure_key(lw, node)),
        "container": lw.graph.blocks[node].name, "error": js("$states.input")}, 60)
    fail = ensure_fail_state(lw, ctx.scope, states)
    task.update(Assign={FAILED_BLOCK: js("$states.result.block")}, Output=js("$states.result"),
                Next=fail, Catch=[failure_catch(lw, node, ctx, states)])
    name = lw.block_state(node, "failed item")
    states[name] = task
    return [{"ErrorEquals": [_THRESHOLD], "Next": name}, failure_catch(lw, node, ctx, states)]


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
    record_failures(lw, node, program)
    names = isolate(program, label)
    selector = {**selector, "v": selector_vars(names, program)} if names else dict(selector)
    state = distributed_map(lw, node, program, child_execution_type(lw, node), selector,
                            int(params.get("batchSize") or 20))
    state["Items"] = js(items)
    if params.get("toleratedFailureCount") is not None:
        state["ToleratedFailureCount"] = int(params["toleratedFailureCount"])
    if params.get("toleratedFailurePercentage") is not None:
        # a number with a fraction (25.0): moto's parser refuses an integer here; AWS takes both
        state["ToleratedFailurePercentage"] = float(params["toleratedFailurePercentage"])
    state["ResultWriter"] = {"Resource": "arn:aws:states:::s3:putObject",
                             "Arguments": {"Bucket": PAYLOAD_BUCKET,
                                           "Prefix": f"{RESULTS_PREFIX}/{lw.graph.workflow.name}"}}
    state["Output"] = js("$states.result.ResultWriterDetails")
    state["Catch"] = map_catches(lw, node, ctx, states)
    states[name] = state
    collect, task = collect_task(lw, node, ctx, states, "results", {
        "op": "parallel", "bucket": js("$states.input.Bucket"), "key": js("$states.input.Key")})
    state["Next"] = collect
    task["Arguments"]["keep"] = ["heads", "count"]  # read by native states: stays inline
    task["Assign"] = {**import_assign, lw.bvar(node, ctx.scope): js(output),
                      **lw.timed(node, ctx.scope, js("$millis()"))}
    return name, [(task, "Next")]


def distributed_maps(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(Label, child execution type) of each distributed Map state in a definition: the
    deployment grants the recorder what reading their children needs (a Map Run's ARN is
    ``mapRun:<state machine>/<Label>:<id>``, a child's ``execution:`` or ``express:`` the
    same), and logs a parent with Express children with their execution data."""
    found: list[tuple[str, str]] = []
    pending: list[Any] = [definition]
    while pending:
        machine = pending.pop()
        for state in (machine.get("States") or {}).values():
            pending.extend(state.get("Branches") or [])
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if not isinstance(processor, dict):
                continue
            pending.append(processor)
            config = processor.get("ProcessorConfig") or {}
            if config.get("Mode") == "DISTRIBUTED":
                found.append((str(state.get("Label") or ""), str(config.get("ExecutionType") or "STANDARD")))
    return sorted(found)
