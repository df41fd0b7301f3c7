"""Handler (Lambda) tasks and failure states: how a block that needs compute becomes a
Task, and how a failure without an error edge ends the run.

The registry of emitters is ``emitters.py``; native blocks are in ``native.py``,
containers in ``containers.py``."""

from __future__ import annotations

import math
from typing import Any

from stepweave.compiler.code import function_code
from stepweave.compiler.exprs import error_message
from stepweave.compiler.secrets import SecretPlan, plan_secrets
from stepweave.compiler.states import Ctx, Dangling, Lowering
from stepweave.compiler.states import done as _done
from stepweave.compiler.states import js as _js
from stepweave.errors import BLOCK_FAILED_ERROR, RESPONSE_ERROR

__all__ = ["CALLBACK", "emit_handler", "ensure_fail_state", "add_container_catches",
           "handler_placeholder", "handler_task", "task_state", "FAILED_BLOCK"]

#: The variable a Catch sets to the name of the block that failed without an error edge.
FAILED_BLOCK = "failedBlock"
_LAMBDA_RETRY = {"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                                 "Lambda.SdkClientException", "Lambda.TooManyRequestsException"],
                 "JitterStrategy": "FULL"}  # defaults: 1 s, 3 attempts, backoff 2
#: A Lambda invoked with a task token: the state ends when the token is answered.
CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def handler_placeholder(handler: str) -> str:
    return "${Handler_" + handler + "}"


def ensure_fail_state(lw: Lowering, ctx_scope: Any, states: dict[str, Any]) -> str:
    """The scope's state for a block that failed without an error edge.

    At the top level it words the run's error ("<Block>: <message>") and fails the
    execution; inside a branch or iteration it passes the raw error up, as JSON, to
    the top-level state's Catch, so the wording exists once per state machine."""
    if ctx_scope.fail_state is None:
        if ctx_scope.id == 0:
            message = error_message().replace("$states.errorOutput", "$states.input")
            cause = _js(f'${FAILED_BLOCK} & ": " & {message}')
            name = lw.names.take("Block failed")
        else:
            cause = _js(f'$string({{"block": ${FAILED_BLOCK}, "Error": $states.input.Error, '
                        '"Cause": $states.input.Cause})')
            name = lw.names.take(f"Block failed ({ctx_scope.id})")
        states[name] = {"Type": "Fail", "Error": BLOCK_FAILED_ERROR, "Cause": cause}
        ctx_scope.fail_state = name
    return str(ctx_scope.fail_state)


def add_container_catches(lw: Lowering, state: dict[str, Any], ctx: Ctx,
                          states: dict[str, Any], nodes: list[str]) -> None:
    """Top-level Parallel/Map states catch what their branches raise: a Response ends
    the run successfully; a block failure is worded once, by the top-level Fail state."""
    if not ctx.top:
        return
    inside = set(nodes) | {n for n in lw.graph.nodes
                           if set(lw.graph.ancestors_containers(n)) & set(nodes)}
    kinds = {lw.graph.types[n].kind for n in inside} | {lw.graph.types[n].name for n in inside}
    catches = state.setdefault("Catch", [])
    if "response" in kinds:
        lw.response_catchers.append(state)
        catches.append({"ErrorEquals": [RESPONSE_ERROR], "Next": "__RESPOND__",
                        "Output": _js("$parse($states.errorOutput.Cause)")})
    if "handler" in kinds or inside & lw.task_nodes:
        catches.append({"ErrorEquals": [BLOCK_FAILED_ERROR],
                        "Next": ensure_fail_state(lw, ctx.scope, states),
                        "Assign": {FAILED_BLOCK: _js("$parse($states.errorOutput.Cause).block")},
                        "Output": _js("$parse($states.errorOutput.Cause)")})
    if not catches:
        del state["Catch"]


# -- handler blocks ---------------------------------------------------------------------------

def _context_payload(lw: Lowering, ctx: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = {"workflow": lw.graph.workflow.name,
                               "execution": _js("$states.context.Execution.Id")}
    for container in ctx.containers:
        kind = lw.graph.types[container].name
        stem = lw.stems[container]
        if kind not in payload:
            payload[kind] = {"id": container, "index": _js(f"$i_{stem}")}
    return payload


def _handler_params(lw: Lowering, node: str, ctx: Ctx) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The event's ``params`` and ``secrets`` (``stepweave.compiler.secrets``)."""
    block = lw.graph.blocks[node]
    site = lw.site(node, ctx)
    params = dict(block.params)
    kind = lw.graph.types[node].name
    if block.type == "function":
        code, bindings, env_names = function_code(str(params.get("code", "")), lw.resolver, site)
        params["code"] = code
        if bindings:
            params["bindings"] = {k: _js(v) for k, v in bindings.items()}
        if env_names:
            params["envNames"] = env_names
        params.pop("language", None)
        plan = SecretPlan(params, [], set(env_names))
    else:
        plan = plan_secrets(kind, params)
        params = lw.resolver.value(plan.params, site)
    lw.report(node, site, "params")
    handler = lw.graph.types[node].handler
    if handler is not None and plan.names:
        lw.secret_names.setdefault(handler, set()).update(plan.names)
    lw.written_secrets.update(plan.written)
    return params, plan.event_field()


def _timeout(lw: Lowering, node: str) -> int:
    block = lw.graph.blocks[node]
    if block.timeoutSeconds:
        return block.timeoutSeconds
    params = block.params
    if block.type == "function":
        return int(params.get("timeoutMs", 10_000)) // 1000 + 30
    if block.type == "api":
        tries = int(params.get("retries") or 0) + 1
        return min(900, tries * (int(params.get("timeout") or 300_000) // 1000) + 30)
    return 300


def handler_task(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any], *, handler: str,
                 params: dict[str, Any], output: str = "$states.result",
                 timeout: int = 300) -> tuple[str, Dangling]:
    """A Lambda task running ``handler`` for ``node`` with ``params`` (already resolved),
    recording ``output`` as the block's output; a failure takes the block's error edge or
    fails the run. For blocks evaluated by another block type's handler (a condition
    whose rows need JavaScript runs on the ``function`` handler)."""
    name = lw.block_state(node)
    state = task_state(lw, node, ctx, handler, params, timeout)
    state["Assign"] = _done(lw, node, ctx, output)
    return name, _catch(lw, node, ctx, states, state, name)


def task_state(lw: Lowering, node: str, ctx: Ctx, handler: str, params: dict[str, Any],
               timeout: int) -> dict[str, Any]:
    """A bare Lambda task for ``node`` (no Assign, no Catch yet)."""
    block = lw.graph.blocks[node]
    lw.handlers.add(handler)
    lw.task_nodes.add(node)
    event = {"block": {"id": block.id, "name": block.name, "type": lw.graph.types[node].name},
             "params": params, "context": _context_payload(lw, ctx)}
    return {"Type": "Task", "Resource": handler_placeholder(handler), "Arguments": event,
            "TimeoutSeconds": timeout, "Output": {}, "Retry": [dict(_LAMBDA_RETRY)]}


def emit_handler(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    block, btype = lw.graph.blocks[node], lw.graph.types[node]
    assert btype.handler is not None
    lw.handlers.add(btype.handler)
    name = lw.block_state(node)
    params, secrets = _handler_params(lw, node, ctx)
    event: dict[str, Any] = {"block": {"id": block.id, "name": block.name, "type": btype.name},
                             "params": params, "context": _context_payload(lw, ctx)}
    if secrets is not None:
        event["secrets"] = secrets
    state: dict[str, Any] = {
        # the function ARN as Resource: Arguments are the event, the result is its output
        "Type": "Task", "Resource": handler_placeholder(btype.handler), "Arguments": event,
        "TimeoutSeconds": _timeout(lw, node),
        "Assign": _done(lw, node, ctx, "$states.result"),
        "Output": {},
        "Retry": [dict(_LAMBDA_RETRY)],
    }
    if btype.name == "approval":
        # the handler only sends the request; the task waits for SendTaskSuccess, whose
        # output ($states.result) is the decision. No timeout: up to the run's year.
        event["taskToken"] = _js("$states.context.Task.Token")
        state.update(Resource=CALLBACK, Arguments={"FunctionName": state["Resource"], "Payload": event})
        seconds = block.params.get("timeoutSeconds") or block.timeoutSeconds
        if seconds:
            state["TimeoutSeconds"] = int(seconds)
        else:
            del state["TimeoutSeconds"]
    elif lw.keep.get(node):
        # what the workflow reads of the output stays inline if the handler offloads it
        event["keep"] = lw.keep[node]
    if block.retry is not None and block.retry.enabled and btype.retryable:
        tries, wait_ms = block.retry.clamped()
        state["Retry"].append({"ErrorEquals": ["States.ALL"], "IntervalSeconds": max(1, math.ceil(wait_ms / 1000)),
                               "MaxAttempts": tries - 1, "BackoffRate": 1.0})
    return name, _catch(lw, node, ctx, states, state, name)


def _catch(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any], state: dict[str, Any],
           name: str) -> Dangling:
    block = lw.graph.blocks[node]
    dangling: Dangling = [(state, "Next")]
    if lw.graph.has_error_edge(node):
        catch = {"ErrorEquals": ["States.ALL"],
                 "Assign": _done(lw, node, ctx, '{"error": ' + error_message() + "}"),
                 "Output": {}}
        dangling.append((catch, "Next"))
    else:
        fail = ensure_fail_state(lw, ctx.scope, states)
        # the Fail state words the message once per scope; the time marks the block as run
        catch = {"ErrorEquals": ["States.ALL"], "Next": fail,
                 "Assign": {lw.ran_var(node, ctx.scope): _js('{"error": true}') if not lw.needs_time(node)
                            else _js("$millis()"), FAILED_BLOCK: block.name}}
    state["Catch"] = [catch]
    states[name] = state
    return dangling
