"""Loops (a Choice back-edge in the enclosing scope) and parallels (a Map state).

Loops iterate with a Choice back-edge rather than a Map so that, as in Sim, a block
in the body sees its own previous iteration's output and, after the loop, the last
iteration's output. Parallels are Map states (branches isolated, ``MaxConcurrency``
= batch size); each iteration exports its outputs so that after the parallel
``<block.x>`` reads branch 0, as in Sim, and ``<P.results>`` lists every branch.
"""

from __future__ import annotations

import re
from typing import Any

from stepweave.compiler.blocks import (
    FAILED_BLOCK,
    add_container_catches,
    ensure_fail_state,
    task_state,
)
from stepweave.compiler import distributed
from stepweave.compiler.exprs import entries, jstr
from stepweave.compiler.keep import param_strings
from stepweave.compiler.resolve import RefError, jsonata_error
from stepweave.compiler.sandbox import loop_program, rows_need_sandbox, sandbox_params
from stepweave.compiler.states import Ctx, Dangling, Lowering, patch
from stepweave.refs import is_sole_ref

__all__ = ["emit_loop", "emit_parallel", "literal_collection"]


def _js(expr: str) -> str:
    return "{% " + expr + " %}"


def literal_collection(raw: Any) -> Any:
    """A collection written in the file: a list or mapping, or the JSON text of one (Sim's
    exports quote with ``'`` too). Raises ``ValueError`` for text that is not JSON."""
    import json

    if isinstance(raw, (list, dict)):
        return raw
    return json.loads(str(raw).replace("'", '"'))


def _collection(lw: Lowering, node: str, ctx: Ctx, raw: Any, kind: str) -> str:
    """forEach items / parallel distribution (SIM-COMPAT §2.6.5) as JSONata."""
    site = lw.site(node, ctx)
    if isinstance(raw, (list, dict)):
        expr = jstr(raw)
    elif isinstance(raw, str) and is_sole_ref(raw.strip()):
        ref = is_sole_ref(raw.strip())
        assert ref is not None
        try:
            expr = lw.resolver.resolve(ref, site) or "null"
        except RefError as exc:
            site.problems.append(str(exc))
            expr = "null"
    elif isinstance(raw, str) and raw.strip():
        try:
            expr = jstr(literal_collection(raw))
        except ValueError:
            site.problems.append(f"collection {raw!r} is neither a reference nor a JSON array")
            expr = "[]"
    else:
        site.problems.append(f"a {kind} over a collection needs a 'collection'")
        expr = "[]"
    lw.report(node, site, "params.collection")
    bad = jsonata_error(f"{kind} collection did not resolve to an array or object")
    # an earlier block's output over the inline budget is a stub in the payload bucket
    # (stepweave.runtime.payloads), which a state cannot iterate: say so, never iterate it
    stored = jsonata_error(f"{kind} collection is an output stored outside the state "
                           "machine (over the inline budget of a state's data); a "
                           f"{kind} iterates at most 256 KiB of items: pass fewer or smaller "
                           "items, e.g. ids, and fetch each item inside the container")
    pairs = '$reduce($keys($c), function($acc, $k){ $append($acc, [[$k, $lookup($c, $k)]]) }, [])'
    return (f'($c := {expr}; $type($c) = "array" ? $c : $type($c) = "object" and '
            f'$keys($c) = "$ref" ? {stored} : $type($c) = "object" ? '
            f'{pairs} : $type($c) = "null" ? [] : {bad})')


def _reads(value: Any, var: str) -> bool:
    """Whether any expression in ``value`` reads ``$var``."""
    pattern = re.compile(rf"\${re.escape(var)}(?![A-Za-z0-9_])")
    return any(pattern.search(text) for text in param_strings(value))


def _final(lw: Lowering, node: str) -> bool:
    """Whether the container is a top-level block with no outgoing edge: its output may be
    the run's final output, which in Sim is the container's end-sentinel output."""
    return node in lw.graph.region(None) and not lw.graph.outgoing(node)


def _loop_output(lw: Lowering, node: str, results: str) -> str:
    """``{"results": [...]}``; as the run's last block, with Sim's loop exit fields."""
    if not _final(lw, node):
        return f'{{"results": {results}}}'
    return (f'($__r := {results}; {{"results": $__r, "shouldContinue": false, "shouldExit": true, '
            f'"selectedRoute": "loop_exit", "totalIterations": $count($__r)}})')


def _parallel_output(lw: Lowering, node: str, results: str) -> str:
    """``{"results": [...]}``; as the run's last block, with Sim's parallel exit fields."""
    if not _final(lw, node):
        return f'{{"results": {results}}}'
    return (f'($__r := {results}; {{"results": $__r, "sentinelEnd": true, '
            f'"selectedRoute": "parallel_exit", "totalBranches": $count($states.result)}})')


def _loop_condition(lw: Lowering, node: str, ctx: Ctx, source: str) -> str:
    from stepweave.compiler.jsexpr import JsExprError, translate_condition
    from stepweave.refs import Ref

    site = lw.site(node, ctx)
    inner_site = lw.site(node, type(ctx)(ctx.scope, [node, *ctx.containers], ctx.top, node))

    def resolve(inner: str) -> str:
        try:
            return lw.resolver.resolve(Ref(0, 0, inner), inner_site) or "null"
        except RefError as exc:
            site.problems.append(str(exc))
            return "null"

    try:
        expr = translate_condition(source, resolve)
    except JsExprError as exc:
        site.problems.append(f"loop condition: {exc}")
        expr = "false"
    site.problems += inner_site.problems
    loop_type = lw.graph.blocks[node].params.get("loopType")
    lw.report(node, site, "params.doWhileCondition" if loop_type == "doWhile" else "params.whileCondition")
    return expr


def _next_index(expr: str, stem: str) -> str:
    """In the loop test, ``<loop.index>`` means the index the next iteration would have."""
    return re.sub(rf"\$i_{re.escape(stem)}(?![A-Za-z0-9_])", f"($i_{stem} + 1)", expr)


def _sandboxed(source: str) -> bool:
    return rows_need_sandbox((source,), has_context=False)


def _condition_task(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any], source: str,
                    following: str) -> str:
    """A Task evaluating the loop condition in the sandbox into ``$wc_<loop>`` (SIM-COMPAT
    §2.6.4: with ``<loop.index>`` the next index; an evaluation error is false)."""
    stem = lw.stems[node]
    inner = Ctx(ctx.scope, [node, *ctx.containers], ctx.top, node)
    code, bindings = loop_program(lw, node, ctx, inner, source)
    bindings = {name: _next_index(expr, stem) for name, expr in bindings.items()}
    name = lw.block_state(node, "while?")
    state = task_state(lw, node, ctx, "function", sandbox_params(code, bindings), 60)
    state.update(Assign={f"wc_{stem}": _js("$states.result.result = true")}, Next=following,
                 Catch=[{"ErrorEquals": ["States.ALL"], "Next": ensure_fail_state(lw, ctx.scope, states),
                         "Assign": {FAILED_BLOCK: lw.graph.blocks[node].name}}])
    states[name] = state
    return name


def _continue_condition(lw: Lowering, node: str, ctx: Ctx) -> tuple[str, str | None]:
    """The Choice's test, and the condition the sandbox evaluates first (if any)."""
    params, stem = lw.graph.blocks[node].params, lw.stems[node]
    ltype = params.get("loopType", "for")
    nxt = f"($i_{stem} + 1)"
    if ltype == "for":
        return f"{nxt} < {int(params.get('count') or 5)}", None
    if ltype == "forEach":
        return f"{nxt} < $count($its_{stem})", None
    if ltype == "while":
        source = params.get("whileCondition") or "false"
        if _sandboxed(source):
            return f"$wc_{stem} = true", source
        cond = _loop_condition(lw, node, ctx, source)
        return f"({_next_index(cond, stem)}) = true", None
    source = params.get("doWhileCondition") or ""
    if not source.strip():
        return f"{nxt} < {int(params.get('count') or 5)}", None
    if _sandboxed(source):
        return f"{nxt} = 0 or $wc_{stem} = true", source
    cond = _loop_condition(lw, node, ctx, source)
    return f"{nxt} = 0 or ({_next_index(cond, stem)}) = true", None


def emit_loop(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    """``start`` (Pass) -> ``continue?`` (Choice) -> body -> ``continue?`` ... -> next.

    ``$i_<loop>`` is the index of the running iteration (-1 before the first); the
    Choice that starts an iteration also appends the previous one's outputs to the
    results, and the Choice's default (exit) path assigns the loop's output.
    """
    block = lw.graph.blocks[node]
    params, stem = block.params, lw.stems[node]
    ltype = params.get("loopType", "for")
    count = (int(params.get("count") or 5) if ltype == "for" else
             known_count(params.get("collection")) if ltype == "forEach" else None)
    if distributed.choose(lw, node, ctx, count):
        return _emit_chunked_loop(lw, node, ctx, states)
    body_ctx = Ctx(ctx.scope, [node, *ctx.containers], ctx.top, loop=node)
    body_nodes = [n for n in lw.graph.nodes if node in lw.graph.ancestors_containers(n)]
    init_assign: dict[str, Any] = {f"i_{stem}": -1, f"r_{stem}": [], f"it_{stem}": None}
    init_assign[f"its_{stem}"] = (_js(_collection(lw, node, ctx, params.get("collection"), "forEach"))
                                  if ltype == "forEach" else [])
    for child in body_nodes:  # previous-iteration values start empty
        ctx.scope.define_block(child)
        init_assign[lw.bvar(child, ctx.scope)] = None
        init_assign[lw.tvar(child, ctx.scope)] = None
    cond, sandboxed = _continue_condition(lw, node, ctx)
    init_name = lw.block_state(node, "start")
    check_name = lw.block_state(node, "continue?")
    test_name = check_name  # where each test starts: the sandbox's Task, else the Choice
    if sandboxed is not None:
        test_name = _condition_task(lw, node, ctx, states, sandboxed, check_name)
    i = f"$i_{stem}"
    children = [(lw.bvar(c, ctx.scope), lw.tvar(c, ctx.scope)) for c in lw.graph.region(node)]
    appended = (f"({i} >= 0 ? ($e := {entries(children)}; $exists($e) ? $append($r_{stem}, [[$e.o]]) "
                f": $r_{stem}) : $r_{stem})")
    rule: dict[str, Any] = {"Condition": _js(cond)}
    body_entry, body_dangling = lw.emit(lw.region_tree(node), body_ctx, states)
    rule["Next"] = body_entry or test_name
    patch(body_dangling, test_name)
    rule["Assign"] = {
        **{lw.tvar(c, ctx.scope): None for c in body_nodes},
        f"r_{stem}": _js(appended), f"i_{stem}": _js(f"{i} + 1"),
        f"it_{stem}": _js(f"$its_{stem}[{i} + 1]" if ltype == "forEach" else "null")}
    ctx.scope.define_block(node)
    check: dict[str, Any] = {"Type": "Choice", "Choices": [rule], "Assign": {
        lw.bvar(node, ctx.scope): _js(_loop_output(lw, node, appended)),
        **lw.timed(node, ctx.scope, _js("$millis()"))}}
    states[init_name] = {"Type": "Pass", "Assign": init_assign, "Output": {}, "Next": test_name}
    states[check_name] = check
    return init_name, [(check, "Default")]


def known_count(raw: Any) -> int | None:
    """The number of items of a collection written in the file (None: a reference)."""
    if isinstance(raw, str) and ("<" in raw or not raw.strip().startswith(("[", "{"))):
        return None
    try:
        parsed = literal_collection(raw)
    except ValueError:
        return None
    return len(parsed) if isinstance(parsed, (list, dict)) else None



def _iteration(lw: Lowering, node: str, ctx: Ctx, name: str, item_expr: str,
               items_var: Any) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """A parallel's iteration, inline or distributed: its program, its scope and the Map's
    ItemSelector. Each iteration carries the whole collection only when its blocks read
    ``<parallel.items>`` (folded into the first state, the body reads them as
    ``$states.input.items`` there)."""
    stem = lw.stems[node]
    inner_ctx = Ctx(ctx.scope, [node, *ctx.containers], False)
    init = {f"i_{stem}": _js("$states.input.index"), f"it_{stem}": _js("$states.input.item"),
            f"its_{stem}": _js("$states.input.items")}
    program, scope = lw.branch_program(lw.region_tree(node), inner_ctx, name, init=init,
                                       tail=lw.graph.region(node), first=f"$i_{stem} = 0")
    selector: dict[str, Any] = {"index": _js("$states.context.Map.Item.Index"),
                                "item": _js(item_expr), "items": items_var}
    head = dict(program["States"].get(program["StartAt"], {}))
    head["Assign"] = {k: v for k, v in head.get("Assign", {}).items() if k != f"its_{stem}"}
    if not _reads(program, f"its_{stem}") and not _reads(head, "states.input.items"):
        del selector["items"]
        for inner in program["States"].values():
            inner.get("Assign", {}).pop(f"its_{stem}", None)
    return program, scope, selector


def emit_parallel(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    block = lw.graph.blocks[node]
    params = block.params
    count: int | None
    if params.get("parallelType", "count") == "collection":
        items = _collection(lw, node, ctx, params.get("collection"), "Parallel")
        item_expr = "$states.context.Map.Item.Value"
        items_var: Any = _js(items)
        count = known_count(params.get("collection"))
    else:
        count = int(params.get("count") or 5)
        items = f"[0..{count - 1}]"
        item_expr, items_var = "null", []
    spread = distributed.choose(lw, node, ctx, count)
    if spread:
        return _emit_distributed_parallel(lw, node, ctx, states, items, item_expr, items_var)
    name = lw.block_state(node)
    program, scope, selector = _iteration(lw, node, ctx, name, item_expr, items_var)
    assign = lw.import_exports([scope], ctx, "$states.result", first_only=True)
    assign[lw.bvar(node, ctx.scope)] = _js(_parallel_output(
        lw, node, '$reduce($states.result, function($acc, $r){ $append($acc, [[$r.entries]]) }, [])'))
    assign.update(lw.timed(node, ctx.scope, _js("$millis()")))
    ctx.scope.define_block(node)
    program["ProcessorConfig"] = {"Mode": "INLINE"}
    state: dict[str, Any] = {
        "Type": "Map", "Items": _js(items), "MaxConcurrency": int(params.get("batchSize") or 20),
        "ItemSelector": selector,
        "ItemProcessor": program, "Assign": assign, "Output": {}}
    add_container_catches(lw, state, ctx, states, [node])
    states[name] = state
    return name, [(state, "Next")]


def _emit_distributed_parallel(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any], items: str,
                               item_expr: str, items_var: Any) -> tuple[str, Dangling]:
    """The parallel as a distributed Map (``stepweave.compiler.distributed``): the same
    iteration as the inline Map's, run as a child execution."""
    label = lw.graph.blocks[node].name
    program, scope, selector = _iteration(lw, node, ctx, label, item_expr, items_var)
    assign = lw.import_exports([scope], ctx, "$states.result.heads", first_only=True)
    results = "$states.result.results"
    if _final(lw, node):
        output = (f'{{"results": {results}, "sentinelEnd": true, "selectedRoute": "parallel_exit", '
                  f'"totalBranches": $states.result.count}}')
    else:
        output = f'{{"results": {results}}}'
    ctx.scope.define_block(node)
    return distributed.emit_parallel(lw, node, ctx, states, items, program, selector, assign, output)


def _emit_chunked_loop(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    """The loop in chunks of child executions (``stepweave.compiler.distributed``).

    ``start`` (Pass) -> ``chunk`` (a one-item distributed Map) -> ``results`` (the collect
    task appending the chunk's results) -> ``more?`` (Choice: back to ``chunk``, or the
    loop's output). A chunk runs the same back-edge loop as ``emit_loop``, with the loop's
    variables passed in and returned, for at most ``chunk_size`` iterations: its
    ``continue?`` Choice goes on while the loop's condition holds and the chunk has room,
    and otherwise ends the chunk, saying whether the loop goes on (``$more_<loop>``). Each
    chunk starts its results empty; the collect task appends them to the loop's (a stub
    once large), so no state holds them all."""
    block = lw.graph.blocks[node]
    params, stem = block.params, lw.stems[node]
    ltype = params.get("loopType", "for")
    body_ctx = Ctx(ctx.scope, [node, *ctx.containers], ctx.top, loop=node)
    body_nodes = [n for n in lw.graph.nodes if node in lw.graph.ancestors_containers(n)]
    init_assign: dict[str, Any] = {f"i_{stem}": -1, f"r_{stem}": [], f"it_{stem}": None}
    init_assign[f"its_{stem}"] = (_js(_collection(lw, node, ctx, params.get("collection"), "forEach"))
                                  if ltype == "forEach" else [])
    for child in body_nodes:
        ctx.scope.define_block(child)
        init_assign[lw.bvar(child, ctx.scope)] = None
        init_assign[lw.tvar(child, ctx.scope)] = None
    cond, sandboxed = _continue_condition(lw, node, ctx)
    # the items' count, once per chunk (not a count of the whole collection per iteration)
    cond = cond.replace(f"$count($its_{stem})", f"$n_{stem}")
    init_name = lw.block_state(node, "start")
    chunk_name = lw.block_state(node)
    # the chunk: a program of its own (its own Fail state: the parent's is not in it)
    parent_fail, ctx.scope.fail_state = ctx.scope.fail_state, None
    inner: dict[str, Any] = {}
    check_name = lw.block_state(node, "continue?")
    pause_name = lw.block_state(node, "pause")
    test_name = check_name
    if sandboxed is not None:
        test_name = _condition_task(lw, node, ctx, inner, sandboxed, check_name)
    i = f"$i_{stem}"
    children = [(lw.bvar(c, ctx.scope), lw.tvar(c, ctx.scope)) for c in lw.graph.region(node)]
    appended = (f"({i} >= 0 ? ($e := {entries(children)}; $exists($e) ? $append($r_{stem}, [[$e.o]]) "
                f": $r_{stem}) : $r_{stem})")
    body_entry, body_dangling = lw.emit(lw.region_tree(node), body_ctx, inner)
    patch(body_dangling, test_name)
    ctx.scope.fail_state = parent_fail
    # a pause appends the last iteration's outputs and clears their times, so that the
    # next chunk's first test does not append them again
    cleared = {lw.tvar(c, ctx.scope): None for c in body_nodes}
    run = {"Condition": _js(f"({cond}) and ({i} + 1) <= $k_{stem}"), "Next": body_entry or test_name,
           "Assign": {**cleared, f"r_{stem}": _js(appended), f"i_{stem}": _js(f"{i} + 1"),
                      f"it_{stem}": _js(f"$its_{stem}[{i} + 1]" if ltype == "forEach" else "null")}}
    # the chunk ends when the loop does or the chunk is full: the loop goes on if its
    # condition still holds
    inner[check_name] = {"Type": "Choice", "Choices": [run], "Default": pause_name,
                         "Assign": {**cleared, f"r_{stem}": _js(appended),
                                    f"more_{stem}": _js(f"({cond}) = true")}}
    carried = [f"i_{stem}", f"it_{stem}", *[v for c in body_nodes
                                          for v in (lw.bvar(c, ctx.scope), lw.tvar(c, ctx.scope))]]
    if ltype == "forEach":
        carried.append(f"its_{stem}")
    if sandboxed is not None:
        carried.append(f"wc_{stem}")
    program: dict[str, Any] = {"StartAt": test_name, "States": inner}
    written = distributed.assigned_variables(program)
    wvars = sorted(w for w in (ctx.scope.wvar(lw.wstems[n]) for n in ctx.scope.wvars) if w in written)
    back = sorted({*carried, *wvars} - {f"its_{stem}"})
    inner[pause_name] = {"Type": "Pass", "End": True, "Output": {
        "v": {name: _js(f"${name}") for name in back},
        "r": _js(f"$r_{stem}"), "more": _js(f"$more_{stem}")}}
    distributed.record_failures(lw, node, program)
    names = distributed.isolate(program, lw.block_state(node, "resume"), keep=tuple(carried), assign={
        f"k_{stem}": _js(f"$states.input.v.i_{stem} + {distributed.chunk_size(lw, node)}"),
        f"r_{stem}": [], f"more_{stem}": False,
        **({f"n_{stem}": _js(f"$count($states.input.v.its_{stem})")} if ltype == "forEach" else {})})
    kind = distributed.child_execution_type(lw, node, sequential=True)
    chunk = distributed.distributed_map(lw, node, program, kind,
                                        {"v": distributed.selector_vars(names, program, tuple(carried))}, 1)
    chunk.update(Items=[0], Output=_js("$states.result[0]"),
                 Assign={**{name: _js(f"$states.result[0].v.{name}") for name in back},
                         f"more_{stem}": _js(f"$states.result[0].more")},
                 Catch=distributed.map_catches(lw, node, ctx, states))
    states[init_name] = {"Type": "Pass", "Assign": init_assign, "Output": {}, "Next": chunk_name}
    states[chunk_name] = chunk
    collect, task = distributed.collect_task(lw, node, ctx, states, "results", {
        "op": "append", "acc": _js(f"$r_{stem}"), "add": _js("$states.input.r")})
    chunk["Next"] = collect
    task["Assign"] = {f"r_{stem}": _js("$states.result.results")}
    more_name = lw.block_state(node, "more?")
    task["Next"] = more_name
    ctx.scope.define_block(node)
    check: dict[str, Any] = {"Type": "Choice",
                             "Choices": [{"Condition": _js(f"$more_{stem}"), "Next": chunk_name}],
                             "Assign": {lw.bvar(node, ctx.scope): _js(_loop_output(lw, node, f"$r_{stem}")),
                                        **lw.timed(node, ctx.scope, _js("$millis()"))}}
    states[more_name] = check
    return init_name, [(check, "Default")]
