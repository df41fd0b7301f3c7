"""Sub-workflow blocks: another workflow of the deployment, run as a nested execution.

The block is a ``states:startExecution.sync:2`` task: Step Functions starts the child's
state machine with the block's ``input``, waits for it and returns its output (JSON). The
child's ARN is the placeholder ``${StateMachine_<ref>}`` (``machine_key``), substituted
by the CDK app with the deployed child's ARN and by the embedded engine with the local
one. The child's input is the block's ``input`` (an object; any other value becomes its
``input`` field) plus ``trigger``: ``{"type": "workflow", "workflow", "block",
"executionId"}`` naming the parent run, which the child's execution record shows. Output, as Sim's workflow block: ``{"success": true, "childWorkflowName", "result"}``;
a failed child fails the block with ``Error in child workflow "<name>": <its error>``,
which an error edge can take (output ``{"success": false, ..., "error"}``).

Finding the children (the workflow files of the same folder), cycles and missing children
are ``stepweave.compiler.family``'s.
"""

from __future__ import annotations

import re
from typing import Any

from stepweave.compiler.blocks import FAILED_BLOCK, ensure_fail_state
from stepweave.compiler.exprs import jstr
from stepweave.compiler.states import Ctx, Dangling, Lowering, done, js

__all__ = ["emit_subworkflow", "machine_key", "machine_placeholder", "START_SYNC",
           "CHILD_FAILED_ERROR"]

START_SYNC = "arn:aws:states:::states:startExecution.sync:2"
CHILD_FAILED_ERROR = "Stepweave.ChildWorkflowFailed"


def machine_key(ref: str) -> str:
    """The substitution key of a child's state machine ARN."""
    return "StateMachine_" + re.sub(r"[^A-Za-z0-9]", "_", ref)


def machine_placeholder(ref: str) -> str:
    return "${" + machine_key(ref) + "}"


def _child_error(child: str, error: str) -> str:
    """The message of a failed nested execution (its Cause is the DescribeExecution JSON,
    whose own Cause/Error is the child's failure)."""
    return (f"($c := {error}.Cause; $p := $type($c) = \"string\" and $substring($c, 0, 1) = \"{{\" "
            "? $parse($c) : {}; "
            "$m := $type($p.Cause) = \"string\" ? $p.Cause : ($type($p.Error) = \"string\" ? $p.Error "
            f": ($type($c) = \"string\" ? $c : {error}.Error)); "
            f"{jstr(f'Error in child workflow {chr(34)}{child}{chr(34)}: ')} & $m)")


def _input(lw: Lowering, node: str, ctx: Ctx) -> Any:
    """The child's input: the block's ``input`` plus ``trigger``, which names the workflow,
    block and execution that started it (its execution record shows it, as a schedule's)."""
    raw = lw.graph.blocks[node].params.get("input")
    site = lw.site(node, ctx)
    trigger = (f'{{"type": "workflow", "workflow": {jstr(lw.graph.workflow.name)}, '
               f'"block": {jstr(lw.graph.blocks[node].name)}, "executionId": $states.context.Execution.Id}}')
    value: Any
    if raw is None or raw == "":
        value = {"trigger": js(trigger)}
    elif isinstance(raw, str):
        # a JSON text is the input; any other value becomes the child's ``input`` field
        value = js(f'($v := {lw.resolver.value_expr(raw, site)}; $t := $type($v) = "string" '
                   'and $substring($trim($v), 0, 1) in ["{", "["] ? $parse($v) : $v; '
                   f'$merge([$type($t) = "object" ? $t : {{"input": $t}}, {{"trigger": {trigger}}}]))')
    else:
        resolved = lw.resolver.value(raw, site)
        value = {**(resolved if isinstance(resolved, dict) else {"input": resolved}), "trigger": js(trigger)}
    lw.report(node, site, "params.input")
    return value


def emit_subworkflow(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    block = lw.graph.blocks[node]
    child = str(block.params.get("workflow", ""))
    lw.subworkflows.add(child)
    lw.task_nodes.add(node)
    name = lw.block_state(node)
    ok = f'{{"success": true, "childWorkflowName": {jstr(child)}, "result": $states.result.Output}}'
    state: dict[str, Any] = {"Type": "Task", "Resource": START_SYNC,
                             "Arguments": {"StateMachineArn": machine_placeholder(child),
                                           "Input": _input(lw, node, ctx)},
                             "Assign": done(lw, node, ctx, ok), "Output": {}}
    if block.timeoutSeconds:
        state["TimeoutSeconds"] = block.timeoutSeconds
    dangling: Dangling = [(state, "Next")]
    if lw.graph.has_error_edge(node):
        failed = (f'{{"success": false, "childWorkflowName": {jstr(child)}, '
                  f'"error": {_child_error(child, "$states.errorOutput")}}}')
        catch: dict[str, Any] = {"ErrorEquals": ["States.ALL"], "Output": {},
                                 "Assign": done(lw, node, ctx, failed)}
        dangling.append((catch, "Next"))
    else:
        wording = lw.names.take(f"{block.name} failed")
        states[wording] = {"Type": "Pass", "Next": ensure_fail_state(lw, ctx.scope, states),
                           "Output": js(f'{{"Error": {jstr(CHILD_FAILED_ERROR)}, '
                                        f'"Cause": {_child_error(child, "$states.input")}}}')}
        ran = lw.ran_var(node, ctx.scope)
        catch = {"ErrorEquals": ["States.ALL"], "Next": wording,
                 "Assign": {ran: js("$millis()") if lw.needs_time(node) else js('{"error": true}'),
                            FAILED_BLOCK: block.name}}
    state["Catch"] = [catch]
    states[name] = state
    return name, dangling
