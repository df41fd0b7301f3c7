"""Lowering the graph IR to Amazon States Language (JSONata).

Regions (the top level, each loop/parallel body) are scheduled into nested
sequences and fork/joins (``schedule``), then emitted back to front so that every
state knows its ``Next``. Each block may be preceded by a *guard*: a Choice that
runs it only if one of its incoming edges fired (Sim's activation rule) and
otherwise marks it skipped. Joins therefore run once, after every input settled,
whatever the order branches finish in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stepweave.compiler.blocks import add_container_catches
from stepweave.compiler.certain import certain_blocks
from stepweave.compiler.emitters import emit_block, folds_guard
from stepweave.compiler.exclusive import emit_exclusive, leaves, route_of
from stepweave.compiler.exprs import entries, jstr, or_null, truthy_error
from stepweave.compiler.graph import GEdge, Graph
from stepweave.compiler.keep import keep_paths
from stepweave.compiler.keep import param_strings as _strings
from stepweave.compiler.naming import StateNames, var_stem
from stepweave.compiler.resolve import Resolver, Site
from stepweave.compiler.schedule import Leaf, Par, Seq, Tree, schedule, toposort
from stepweave.compiler.scope import Scope
from stepweave.compiler.states import Ctx, Dangling, patch
from stepweave.refs import ENV_PATTERN, find_refs
from stepweave.workflow.model import normalize_name

__all__ = ["Lowerer"]


_WEIGHT = {"function": 1.0, "api": 1.0, "wait": 1.0}


@dataclass
class Lowerer:
    graph: Graph
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    #: STANDARD or EXPRESS (``compile._choose_type``): distributed Maps need Standard
    workflow_type: str = "EXPRESS"

    def __post_init__(self) -> None:
        self.names = StateNames()
        taken: set[str] = set()
        self.stems = {b.id: var_stem(b.id, taken) for b in self.graph.workflow.blocks}
        wtaken: set[str] = set()
        self.wstems = {v.name: var_stem(v.name, wtaken) for v in self.graph.workflow.variables}
        self.resolver = Resolver(self.graph)
        self.resolver.bind_stems(self.stems)
        self.scope_count = 0
        self.handlers: set[str] = set()
        #: handler -> the secrets its blocks in this workflow may read (exact IAM grants)
        self.secret_names: dict[str, set[str]] = {}
        #: of those, the names the author wrote (not defaults of tools or providers)
        self.written_secrets: set[str] = set()
        #: native blocks compiled to a handler task (a condition evaluated in the sandbox)
        self.task_nodes: set[str] = set()
        #: workflows the sub-workflow blocks run (as they name them)
        self.subworkflows: set[str] = set()
        self.response_in_branch = False
        self.response_catchers: list[dict[str, Any]] = []
        #: state name -> (block id, role): "main", "start", "end", "continue?", "guard"
        self.state_map: dict[str, tuple[str, str]] = {}
        self.guarded = self._compute_guards()
        self.readers = self._reference_index()
        #: handler block id -> the paths of its output the workflow reads (``keep``)
        self.keep = keep_paths(self.graph, self.resolver)

    def block_state(self, node: str, role: str = "main") -> str:
        label = self.graph.blocks[node].name
        name = self.names.take(label if role == "main" else f"{label} {role}")
        self.state_map[name] = (node, role)
        return name

    # -- analysis -----------------------------------------------------------------------

    def may_error_output(self, node: str) -> bool:
        block = self.graph.blocks[node]
        if self.graph.has_error_edge(node):
            return True
        if block.type == "variables":
            return any(isinstance(v, dict) and v.get("variableName") == "error"
                       for v in block.params.get("variables") or [])
        return False

    def _compute_guards(self) -> dict[str, bool]:
        guarded: dict[str, bool] = {}
        order = self._topo_all()
        # a block that runs in every run that does not fail needs no guard (the join after
        # an if/else whose branches both reach it)
        certain = certain_blocks(self.graph, self.may_error_output)
        for node in order:
            inc = self.graph.incoming(node)
            if node == self.graph.trigger or not inc or node in certain:
                guarded[node] = False
                continue
            guarded[node] = not any(
                e.handle in ("source", None) and not guarded[e.source]
                and not self.may_error_output(e.source) for e in inc)
        return guarded

    def _reference_index(self) -> dict[str, set[str]]:
        """Block id -> the blocks whose params reference it."""
        readers: dict[str, set[str]] = {}

        for node in self.graph.nodes:
            for text in _strings(self.graph.blocks[node].params):
                for ref in find_refs(text):
                    target = self.resolver.by_name.get(normalize_name(ref.head))
                    if target is not None:
                        readers.setdefault(target, set()).add(node)
        return readers

    def needed_outside(self, node: str, members: set[str]) -> bool:
        """Must ``node``'s variables leave a branch made of ``members``?"""
        if node in self.graph.children.get(self.graph.parent.get(node), []) and \
                self.graph.parent.get(node) is not None:
            return True  # the container's results list it
        out = self.graph.outgoing(node)
        if not out or any(e.target not in members for e in out):
            return True  # a join or a terminal (the final output) reads it
        return any(r not in members for r in self.readers.get(node, ()))

    def _topo_all(self) -> list[str]:
        return toposort(self.graph.nodes, [(e.source, e.target) for e in self.graph.edges])

    def weight(self, node: str) -> float:
        btype = self.graph.types[node]
        if btype.is_container:
            return 2.0
        return _WEIGHT.get(btype.name, 0.05)

    # -- scopes and sites ---------------------------------------------------------------

    def new_scope(self, parent: Scope | None) -> Scope:
        scope = Scope(self.scope_count, parent)
        self.scope_count += 1
        return scope

    def site(self, node: str, ctx: Ctx) -> Site:
        return Site(node, ctx.scope, ctx.containers, self.stems, self.wstems)

    def report(self, node: str, site: Site, field_name: str) -> None:
        for message in site.problems:
            self.problems.append((node, field_name, message))
        site.problems.clear()

    def bvar(self, node: str, scope: Scope) -> str:
        return scope.bvar(self.stems[node])

    def tvar(self, node: str, scope: Scope) -> str:
        return scope.tvar(self.stems[node])

    def needs_time(self, node: str) -> bool:
        """Whether the block's end time is kept (``t_<block>``): inside a loop (its output
        outlives the iteration, so "ran" needs its own mark), as a container's direct
        child (results are in completion order) or as a top-level terminal (the final
        output is the last to finish). Elsewhere "ran" is simply "has an output"."""
        containers = self.graph.ancestors_containers(node)
        if containers:
            return True
        return not self.graph.outgoing(node)

    def ran_var(self, node: str, scope: Scope) -> str:
        return self.tvar(node, scope) if self.needs_time(node) else self.bvar(node, scope)

    def timed(self, node: str, scope: Scope, value: Any) -> dict[str, Any]:
        """``{t_<block>: value}`` when the block keeps its end time, else nothing."""
        return {self.tvar(node, scope): value} if self.needs_time(node) else {}

    def visible(self, node: str, ctx: Ctx) -> tuple[str, str]:
        scope = ctx.scope.lookup_block(node)
        assert scope is not None, f"{node} not visible"
        return self.bvar(node, scope), self.ran_var(node, scope)

    # -- guards -------------------------------------------------------------------------

    def edge_active(self, edge: GEdge, ctx: Ctx) -> str:
        bvar, tvar = self.visible(edge.source, ctx)
        ran = f"${tvar} != null"
        if edge.handle is None:
            return ran
        if edge.handle == "source":
            return f"({ran} and $not({truthy_error(bvar)}))"
        if edge.handle == "error":
            return f"({ran} and {truthy_error(bvar)})"
        routed = route_of(edge.handle)
        if routed is not None:
            field_name, option = routed
            return f"({ran} and ${bvar}.{field_name} = {jstr(option)})"
        return ran

    def guard_expr(self, node: str, ctx: Ctx) -> str:
        parts = sorted({self.edge_active(e, ctx) for e in self.graph.incoming(node)})
        return " or ".join(parts) if parts else "true"

    def skip_assign(self, node: str, ctx: Ctx) -> dict[str, Any]:
        assign: dict[str, Any] = self.timed(node, ctx.scope, None)
        if ctx.loop is None:
            assign[self.bvar(node, ctx.scope)] = None
        return assign

    # -- emission (front to back; ``Dangling`` are Next pointers still to fill) ----------

    def emit(self, tree: Tree | None, ctx: Ctx, states: dict[str, Any]) -> tuple[str | None, Dangling]:
        if tree is None:
            return None, []
        if isinstance(tree, Leaf):
            return self.emit_node(tree.node, ctx, states)
        if isinstance(tree, Seq):
            entry: str | None = None
            dangling: Dangling = []
            for item in tree.items:
                item_entry, item_dangling = self.emit(item, ctx, states)
                if item_entry is None:
                    continue
                if entry is None:
                    entry = item_entry
                patch(dangling, item_entry)
                dangling = item_dangling
            return entry, dangling
        return self.emit_par(tree, ctx, states)

    def _check_env(self, node: str) -> None:
        """``{{NAME}}`` is resolved by handlers at run time, so that secrets never enter
        the definition; in a block Step Functions evaluates itself it would stay literal."""
        if self.graph.types[node].kind == "handler":
            return
        for text in _strings(self.graph.blocks[node].params):
            for name in ENV_PATTERN.findall(text):
                self.problems.append((node, "params", (
                    f"{{{{{name}}}}}: environment values are resolved by handler blocks "
                    "(function, api) only; read it in a function block and reference its result")))

    def emit_node(self, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
        self._check_env(node)
        guarded = self.guarded[node] and not folds_guard(self, node)
        guard_name = self.block_state(node, "?") if guarded else None
        guard: dict[str, Any] | None = None
        if guard_name is not None:
            guard = {"Type": "Choice",
                     "Choices": [{"Condition": "{% " + self.guard_expr(node, ctx) + " %}"}],
                     "Assign": self.skip_assign(node, ctx)}
        ctx.scope.define_block(node)
        entry, dangling = emit_block(self, node, ctx, states)
        if guard is None or guard_name is None:
            return entry, dangling
        guard["Choices"][0]["Next"] = entry
        states[guard_name] = guard
        return guard_name, [*dangling, (guard, "Default")]

    def region_tree(self, container: str | None) -> Tree | None:
        nodes = self.graph.region(container)
        members = set(nodes)
        deps = [(e.source, e.target) for e in self.graph.edges
                if e.source in members and e.target in members]
        return schedule(nodes, deps, self.weight)

    def branch_program(self, tree: Tree | None, ctx: Ctx, label: str,
                       init: dict[str, Any] | None = None,
                       tail: list[str] | None = None,
                       first: str | None = None) -> tuple[dict[str, Any], Scope]:
        """A Parallel branch / Map iteration: its own scope, ending with an export state.

        ``first``: a condition true in the one iteration whose block outputs are read after
        the Map (Sim: branch 0); the others export only their ``entries`` (the results)."""
        scope = self.new_scope(ctx.scope)
        inner = Ctx(scope, ctx.containers, top=False, loop=None)
        states: dict[str, Any] = {}
        init_name = self.names.take(f"{label} start") if init else None
        entry, dangling = self.emit(tree, inner, states)
        last = self._last_task(dangling, states)
        # no export state when every path of the branch already ends (a response block):
        # Step Functions refuses a state nothing transitions to
        ends = entry is not None and not dangling
        export = None if last or ends else self.names.take(f"{label} done")
        if export is not None:
            patch(dangling, export)
        out: dict[str, Any] = {"b": {}, "t": {}, "w": {}}
        members = set(scope.exports)
        scope.exports[:] = [n for n in scope.exports if self.needed_outside(n, members)]
        for node in scope.exports:
            out["b"][self.stems[node]] = "{% $" + self.bvar(node, scope) + " %}"
            if self.needs_time(node):
                out["t"][self.stems[node]] = "{% $" + self.tvar(node, scope) + " %}"
        for name in sorted(scope.wvars):
            out["w"][self.wstems[name]] = "{% $" + scope.wvar(self.wstems[name]) + " %}"
        if tail is not None:
            items = [self.visible(n, inner) for n in tail]
            out["entries"] = ("{% [" + entries(items) + ".o] %}") if items else []
        if first is not None:
            for kind in ("b", "t"):
                if out[kind]:
                    fields = ", ".join(f"{jstr(k)}: {_inner(v)}" for k, v in out[kind].items())
                    out[kind] = "{% " + f"{first} ? {{{fields}}} : {{}}" + " %}"
        out = {k: v for k, v in out.items() if v or k == "b"}
        if last is not None:
            # the branch ends with a handler task: it returns the exports itself
            state, node = last
            own = {self.bvar(node, scope): "$states.result", self.tvar(node, scope): "$millis()"}
            state.pop("Next", None)
            state["Output"] = _substitute(out, own)
            state["End"] = True
        elif export is not None:
            states[export] = {"Type": "Pass", "Output": out, "End": True}
        start = entry or export or ""
        if init is not None and entry is not None and _folds_init(states, entry):
            # the iteration's first state sets the iteration's variables itself, reading
            # its own input where the body reads them: one state less per iteration
            head: dict[str, Any] = states[entry]
            folded = _substitute(head, {var: _inner(value) for var, value in init.items()})
            folded["Assign"] = {**init, **folded.get("Assign", {})}
            head.clear()
            head.update(folded)
        elif init_name is not None:
            states[init_name] = {"Type": "Pass", "Assign": init, "Next": start}
            start = init_name
        return {"StartAt": start, "States": states}, scope

    def _last_task(self, dangling: Dangling,
                   states: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        """The handler task a branch ends with, when it is the branch's only way out."""
        if len(dangling) != 1 or dangling[0][1] != "Next" or dangling[0][0].get("Type") != "Task":
            return None
        state = dangling[0][0]
        name = next(n for n, st in states.items() if st is state)
        return state, self.state_map[name][0]

    def import_exports(self, branch_scopes: list[Scope], ctx: Ctx, result: str,
                       first_only: bool = False) -> dict[str, Any]:
        assign: dict[str, Any] = {}
        for index, scope in enumerate(branch_scopes):
            pick = f"{result}[0]" if first_only else f"{result}[{index}]"
            for node in scope.exports:
                ctx.scope.define_block(node)
                stem = self.stems[node]
                pairs = [("b", self.bvar(node, ctx.scope))]
                if self.needs_time(node):
                    pairs.append(("t", self.tvar(node, ctx.scope)))
                for kind, target in pairs:
                    expr = f"{pick}.{kind}.{stem}"
                    # a Map may run zero iterations; a Parallel branch always exports
                    assign[target] = "{% " + (or_null(expr) if first_only else expr) + " %}"
            last = f"{result}[-1]" if first_only else pick
            for name in sorted(scope.wvars):
                stem = self.wstems[name]
                ctx.scope.wvars.add(name)
                assign[ctx.scope.wvar(stem)] = "{% " + or_null(f"{last}.w.{stem}") + " %}"
        return assign

    def emit_par(self, tree: Par, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
        routed = emit_exclusive(self, tree, ctx, states)
        if routed is not None:
            return routed
        labels = [self._label(b) for b in tree.branches[:3]]
        name = self.names.take("Run " + " + ".join(labels)
                               + (" + ..." if len(tree.branches) > 3 else ""))
        programs, scopes = [], []
        for index, branch in enumerate(tree.branches):
            program, scope = self.branch_program(branch, ctx, f"{name} [{index}]")
            programs.append(program)
            scopes.append(scope)
        state: dict[str, Any] = {"Type": "Parallel", "Branches": programs,
                                 "Assign": self.import_exports(scopes, ctx, "$states.result"),
                                 "Output": {}}
        add_container_catches(self, state, ctx, states, leaves(tree))
        states[name] = state
        return name, [(state, "Next")]

    def _label(self, tree: Tree) -> str:
        if isinstance(tree, Leaf):
            return self.graph.blocks[tree.node].name
        first = tree.items[0] if isinstance(tree, Seq) else tree.branches[0]
        return self._label(first)


def _folds_init(states: dict[str, Any], entry: str) -> bool:
    """Whether a branch's first state can set the branch's variables in its own Assign: a
    Task or Pass (no states nested in it, which would not see them yet) whose failures,
    if caught, only fail the branch (a caught error skips the state's own Assign)."""
    first = states[entry]
    return first["Type"] in ("Task", "Pass") and all(
        states.get(catch.get("Next"), {}).get("Type") == "Fail" for catch in first.get("Catch", ()))


def _inner(field: str) -> str:
    """The JSONata expression of a ``{% ... %}`` field value."""
    return field.removeprefix("{%").removesuffix("%}").strip()


def _substitute(value: Any, names: dict[str, str]) -> Any:
    """Replace ``$name`` variables in every expression of ``value``."""
    if isinstance(value, str):
        for name, expr in names.items():
            pattern = re.compile(rf"\${re.escape(name)}(?![A-Za-z0-9_])")
            value = pattern.sub(lambda _match: expr, value)  # noqa: B023 - used at once
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, names) for v in value]
    return value

