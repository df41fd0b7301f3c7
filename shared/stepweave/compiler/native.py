"""Native blocks: start, condition, variables, wait, response (no Lambda)."""

from __future__ import annotations

import json
import math
from typing import Any

from stepweave.compiler.blocks import handler_task
from stepweave.compiler.exprs import jstr
from stepweave.compiler.resolve import RefError, jsonata_error
from stepweave.compiler.sandbox import (
    condition_program,
    row_problem,
    rows_need_sandbox,
    sandbox_params,
)
from stepweave.compiler.states import Ctx, Dangling, Lowering
from stepweave.compiler.states import done as _done
from stepweave.compiler.states import js as _js
from stepweave.errors import RESPONSE_ERROR
from stepweave.params.core import WaitParams
from stepweave.refs import Ref

__all__ = ["emit_start", "emit_condition", "emit_variables", "emit_wait", "emit_response",
           "wait_seconds", "folds_guard"]

_CONTEXT_DROP = ["_pauseMetadata", "error", "providerTiming", "tokens", "toolCalls", "model", "cost"]


# -- start ----------------------------------------------------------------------------------

#: A JSON text test without exceptions (JSONata cannot catch ``$parse``'s): strings become
#: U+0001, other scalars 0, whitespace goes, then innermost arrays/objects reduce to 0
#: until nothing changes; the text is JSON iff one value is left.
_IS_JSON = (
    r'$__isjson := function($s){ $contains($s, /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/) ? false : ('
    r'$t := $replace($s, /"(?:[^"\x5c\u0000-\u001f]|\x5c(?:["\x5c\x2fbfnrt]|u[0-9a-fA-F]{4}))*"/, "\u0001"); '
    r'$t := $replace($t, /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null/, "0"); '
    r'$t := $replace($t, /[ \t\n\r]+/, ""); '
    r'$r := function($u){ ($v := $replace($u, /\[(?:[\u00010](?:,[\u00010])*)?\]|'
    r'\{(?:\u0001:[\u00010](?:,\u0001:[\u00010])*)?\}/, "0"); $v = $u ? $u : $r($v)) }; '
    r'$r($t) in ["0", "\u0001"]) };'
)
_DECIMAL = r"/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/"


def _coerce(ftype: str, var: str) -> str:
    """Sim's ``coerceValue``: a value that does not convert is kept as it came."""
    if ftype == "number":  # JavaScript's Number(); NaN keeps the value
        canonical = (f'$replace($replace($replace($__t, /^\\+/, ""), /^(-?)\\./, '
                     'function($m){ $m.groups[0] & "0." }), /\\.(?=[eE]|$)/, "")')
        return (f'($type({var}) = "string" ? ($__t := $trim({var}); $__t = "" ? 0 : '
                f'$contains($__t, {_DECIMAL}) ? $number({canonical}) : '
                f'$contains($__t, /^0([xX][0-9A-Fa-f]+|[oO][0-7]+|[bB][01]+)$/) ? $number($__t) : {var}) : '
                f'$type({var}) = "boolean" ? ({var} ? 1 : 0) : {var})')
    if ftype == "boolean":
        return (f'($type({var}) = "boolean" ? {var} : {var} = "true" or {var} = "1" or {var} = 1 ? true : '
                f'{var} = "false" or {var} = "0" or {var} = 0 ? false : {var})')
    if ftype in ("object", "array"):
        return f'($type({var}) = "string" and $__isjson({var}) ? $parse({var}) : {var})'
    if ftype == "string":
        return f'($type({var}) in ["number", "boolean"] ? $string({var}) : {var})'
    return var


def _start_output(lw: Lowering, node: str) -> str:
    """Sim's start output: each input-format field from ``input.input`` or the run input,
    else its ``value`` as written (absent without one), converted by type; then every
    other key of the run input; ``input`` and ``conversationId`` dropped when empty."""
    fields = [f for f in lw.graph.blocks[node].params.get("inputFormat") or [] if f.get("name")]
    parts, names = [], []
    for f in fields:
        name = jstr(str(f["name"]).strip())
        names.append(str(f["name"]).strip())
        default = jstr(f["value"]) if f.get("value") is not None else "$__none"
        pick = (f"($a := $lookup($in.input, {name}); $b := $lookup($in, {name}); "
                f"$x := $type($in.input) = \"object\" and {name} in $keys($in.input) ? $a : $b; "
                f"$x := $exists($x) and $x != null ? $x : {default}; "
                f"{_coerce(f.get('type', 'string'), '$x')})")
        parts.append(f"{name}: {pick}")
    needs_json = any(f.get("type") in ("object", "array") for f in fields)
    base = ('($in := $type($states.input) = "object" ? $states.input : {}; '
            + (_IS_JSON + " " if needs_json else ""))
    rest = f"$sift($in, function($v, $k){{ $not($k in {jstr(names)}) }})" if names else "$in"
    drop = '$sift($o, function($v, $k){ $not($k in ["input", "conversationId"] and $v = "") })'
    return (base + f"$o := $merge([{{}}, {rest}, {{" + ", ".join(parts) + "}]); "
            f"$__o := {drop}; $exists($__o) ? $__o : {{}})")


def _variable_initial(var: Any) -> Any:
    value, vtype = var.value, var.type
    if vtype == "number":
        try:
            number = float(value)
            return 0 if math.isnan(number) else (int(number) if number.is_integer() else number)
        except (TypeError, ValueError):
            return 0
    if vtype == "boolean":
        return str(value).strip().lower() == "true" if not isinstance(value, bool) else value
    if vtype in ("object", "array") and isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                return json.loads(text)
            except ValueError:
                pass
        return {"value": value} if vtype == "object" else [value]
    if vtype == "string" and isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] \
            and value[0] in "'\"":
        return value[1:-1]
    return value


def emit_start(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    name = lw.block_state(node)
    assign = _done(lw, node, ctx, _start_output(lw, node))
    for var in lw.graph.workflow.variables:
        ctx.scope.wvars.add(var.name)
        assign[ctx.scope.wvar(lw.wstems[var.name])] = _variable_initial(var)
    state = {"Type": "Pass", "Assign": assign, "Output": {}}
    states[name] = state
    return name, [(state, "Next")]


# -- condition ----------------------------------------------------------------------------------

def _context_expr(lw: Lowering, node: str, ctx: Ctx) -> str:
    first = next((e.source for e in lw.graph.workflow.edges if e.target == node
                  and e.source in set(lw.graph.nodes)), None)
    if first is None or ctx.scope.lookup_block(first) is None:
        return "{}"
    bvar, _ = lw.visible(first, ctx)
    drop = jstr(_CONTEXT_DROP)
    return (f'($type(${bvar}) = "object" ? ($__k := $sift(${bvar}, function($v, $k){{ $not($k in {drop}) }}); '
            f"$exists($__k) ? $__k : {{}}) : {{}})")


def _condition_row(lw: Lowering, node: str, ctx: Ctx, source: str, title: str, field: str) -> str:
    from stepweave.compiler.jsexpr import JsExprError, translate_condition

    site = lw.site(node, ctx)

    def resolve(inner: str) -> str:
        try:
            expr = lw.resolver.resolve(Ref(0, 0, inner), site)
        except RefError as exc:
            site.problems.append(str(exc))
            return "null"
        return expr if expr is not None else "null"

    try:
        expr = translate_condition(source, resolve, context_expr="$__ctx")
    except JsExprError as exc:
        site.problems.append(f'condition "{title}": {_js_problem(source, exc)}')
        expr = "false"
    lw.report(node, site, field)
    return expr


def _js_problem(source: str, exc: Exception) -> str:
    """Why the condition cannot run: an unknown name, V8's syntax error, else the
    translator's message."""
    return row_problem(source) or str(exc)


def _guard_fold(lw: Lowering, node: str, ctx: Ctx, value: str) -> dict[str, str]:
    bvar = lw.bvar(node, ctx.scope)
    if not lw.guarded[node]:
        return {bvar: _js(value), **lw.timed(node, ctx.scope, _js("$millis()"))}
    guard = lw.guard_expr(node, ctx)
    keep = f"${bvar}" if ctx.loop is not None else "null"
    return {bvar: _js(f"({guard}) ? ({value}) : {keep}"),
            **lw.timed(node, ctx.scope, _js(f"({guard}) ? $millis() : null"))}


def _rows(lw: Lowering, node: str) -> tuple[list[dict[str, Any]], str | None]:
    """The rows evaluated before the else row, and the else row's id."""
    rows = lw.graph.blocks[node].params.get("conditions") or []
    else_row = next((r for r in rows if str(r.get("title", "")).strip().lower() == "else"), None)
    return (rows[: rows.index(else_row)] if else_row else rows), (else_row["id"] if else_row else None)


def condition_in_sandbox(lw: Lowering, node: str) -> bool:
    """Whether a condition block's rows run in the JavaScript sandbox (``sandbox``)."""
    rows, _else = _rows(lw, node)
    sources = tuple(str(r.get("value", "")) for r in rows)
    # a reference that can fail at run time is a block error Sim routes to the error
    # edge; the sandbox's Task can catch it, a Pass state cannot
    if lw.graph.has_error_edge(node) and any(lw.resolver.may_fail(v) for v in sources):
        return True
    return rows_need_sandbox(sources)


def folds_guard(lw: Lowering, node: str) -> bool:
    """Native blocks computed in one Pass fold their guard into the expression."""
    name = lw.graph.types[node].name
    return name == "variables" or (name == "condition" and not condition_in_sandbox(lw, node))


def _condition_value(lw: Lowering, node: str, ctx: Ctx, chain: str) -> str:
    """The block's output, given ``chain``: the selected row id (or null)."""
    targets = {e.handle[len("condition-"):]: e.target for e in lw.graph.outgoing(node)
               if e.handle and e.handle.startswith("condition-")}
    paths = {rid: {"blockId": t, "blockType": lw.graph.blocks[t].type, "blockTitle": lw.graph.blocks[t].name}
             for rid, t in sorted(targets.items())}
    return (f"($__ctx := {_context_expr(lw, node, ctx)}; $__sel := {chain}; "
            f"$__path := $type($__sel) = \"string\" ? $lookup({jstr(paths)}, $__sel) : null; "
            "$merge([$__ctx, {\"conditionResult\": $type($__sel) = \"string\", "
            "\"selectedPath\": $exists($__path) ? $__path : null, \"selectedOption\": $__sel}]))")


def _emit_sandboxed_condition(lw: Lowering, node: str, ctx: Ctx,
                              states: dict[str, Any]) -> tuple[str, Dangling]:
    rows, else_id = _rows(lw, node)
    for index, row in enumerate(rows):
        problem = row_problem(str(row.get("value", "")))
        if problem:
            lw.problems.append((node, f"params.conditions.{index}.value",
                                f'condition "{row.get("title", "if")}": {problem}'))
    code, bindings = condition_program(lw, node, ctx, rows, else_id, _context_expr(lw, node, ctx))
    output = _condition_value(lw, node, ctx, "$states.result.result")
    return handler_task(lw, node, ctx, states, handler="function",
                        params=sandbox_params(code, bindings), output=output, timeout=60)


def emit_condition(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    if condition_in_sandbox(lw, node):
        return _emit_sandboxed_condition(lw, node, ctx, states)
    rows, else_id = _rows(lw, node)
    chain = jstr(else_id) if else_id is not None else "null"
    for index, row in reversed(list(enumerate(rows))):
        cond = _condition_row(lw, node, ctx, str(row.get("value", "")), str(row.get("title", "if")),
                              f"params.conditions.{index}.value")
        chain = f"(({cond}) ? {jstr(row['id'])} : {chain})"
    value = _condition_value(lw, node, ctx, chain)
    name = lw.block_state(node)
    state = {"Type": "Pass", "Assign": _guard_fold(lw, node, ctx, value), "Output": {}}
    states[name] = state
    return name, [(state, "Next")]


# -- variables ---------------------------------------------------------------------------------

def _typed(vtype: str | None, expr: str, name: str) -> str:
    if vtype == "number":
        bad = jsonata_error(f'Invalid number value for variable "{name}". Expected a valid number.')
        return (f'($__x := {expr}; $type($__x) = "number" ? $__x : ($__x = "" or $__x = null ? 0 : '
                f'($contains($string($__x), /^\\s*-?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*$/) '
                f"? $number($trim($string($__x))) : {bad})))")
    if vtype == "boolean":
        return (f'($__x := {expr}; $type($__x) = "boolean" ? $__x : ($__x = "" or $__x = null ? false : '
                f'$lowercase($trim($string($__x))) = "true"))')
    if vtype in ("object", "array"):
        empty = "{}" if vtype == "object" else "[]"
        return (f'($__x := {expr}; $__x = "" or $__x = null ? {empty} : '
                f'($type($__x) = "string" ? $parse($__x) : $__x))')
    return f'($__x := {expr}; $type($__x) = "string" ? $__x : ($__x = null ? "" : $string($__x)))'


def emit_variables(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    block = lw.graph.blocks[node]
    site = lw.site(node, ctx)
    declared = {v.name: v.type for v in lw.graph.workflow.variables}
    values, assign = [], {}
    for row in block.params.get("variables") or []:
        vname = row["variableName"]
        expr = _typed(row.get("type") or declared.get(vname), lw.resolver.value_expr(row.get("value", ""), site),
                      vname)
        values.append(f"{jstr(vname)}: {expr}")
        if vname in declared:
            assign[vname] = expr
    lw.report(node, site, "params.variables")
    out = "{" + ", ".join(values) + "}"
    result = _guard_fold(lw, node, ctx, out)
    guard = lw.guard_expr(node, ctx) if lw.guarded[node] else "true"
    for vname, expr in assign.items():
        current = lw.resolver.resolve(Ref(0, 0, f"variable.{vname}"), site)
        ctx.scope.wvars.add(vname)
        # every Assign reads the values of state entry, so the value is computed again here
        result[ctx.scope.wvar(lw.wstems[vname])] = _js(f"({guard}) ? ({expr}) : ({current})")
    name = lw.block_state(node)
    state = {"Type": "Pass", "Assign": result, "Output": {}}
    states[name] = state
    return name, [(state, "Next")]


# -- wait ----------------------------------------------------------------------------------------

def wait_seconds(params: dict[str, Any]) -> float | None:
    """The wait in seconds; None when it comes from a reference."""
    return WaitParams.model_validate(params).seconds()


def emit_wait(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    block = lw.graph.blocks[node]
    params = WaitParams.model_validate(block.params)
    seconds = params.seconds()
    name = lw.block_state(node)
    if seconds is not None:
        out = jstr({"waitDuration": int(seconds * 1000), "status": "completed"})
        wait: Any = max(1, int(math.ceil(seconds)))
    else:
        site = lw.site(node, ctx)
        amount = lw.resolver.value_expr(str(params.timeValue), site)
        lw.report(node, site, "params.timeValue")
        limit = 30 * 86400 if params.async_ else 300
        bad = jsonata_error(f"Wait amount must be a positive number of at most {limit} seconds")
        secs = (f"($__w := $number({amount}) * {params.unit_seconds()}; "
                f"$__w > 0 and $__w <= {limit} ? $__w : {bad})")
        wait = _js(f"$ceil({secs})")
        out = f'{{"waitDuration": $round({secs} * 1000), "status": "completed"}}'
    state = {"Type": "Wait", "Seconds": wait, "Assign": _done(lw, node, ctx, out), "Output": {}}
    states[name] = state
    return name, [(state, "Next")]


# -- response ----------------------------------------------------------------------------------------

def emit_response(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    from stepweave.compiler.response import response_expr

    block = lw.graph.blocks[node]
    site = lw.site(node, ctx)
    out = response_expr(block.params, lw.resolver, site)
    lw.report(node, site, "params")
    name = lw.block_state(node)
    if ctx.top:
        states[name] = {"Type": "Pass", "Output": _js(out), "End": True,
                        "Assign": lw.timed(node, ctx.scope, _js("$millis()"))}
    else:
        lw.response_in_branch = True
        states[name] = {"Type": "Fail", "Error": RESPONSE_ERROR, "Cause": _js(f"$string({out})")}
    return name, []
