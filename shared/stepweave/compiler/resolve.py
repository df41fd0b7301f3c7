"""Compiling references into JSONata expressions over state-machine variables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from stepweave.compiler.graph import Graph
from stepweave.compiler.scope import Scope
from stepweave.refs import ENV_PATTERN, Ref, find_refs, is_sole_ref
from stepweave.workflow.model import normalize_name

__all__ = ["RefError", "Resolver", "Site", "ERR_OPEN", "ERR_CLOSE", "jsonata_error",
           "output_fields", "STR_HELPER"]

ERR_OPEN, ERR_CLOSE = "[[sw:", ":sw]]"
#: Sim's text formatting: strings raw, null/undefined "", everything else JSON.
STR_HELPER = ('$__s := function($v){ $type($v) = "string" ? $v : '
              '($exists($v) and $type($v) != "null" ? $string($v) : "") };')
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RefError(Exception):
    """A reference that cannot be compiled (reported as a validation problem)."""


def jsonata_error(message: str) -> str:
    return f"$error({json.dumps(ERR_OPEN + message + ERR_CLOSE)})"


def _path_expr(base: str, path: list[str | int]) -> str:
    out = base
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT.match(seg):
            out += f".{seg}"
        else:
            out += ".`" + seg.replace("`", "") + "`"
    return out


def _null_safe(expr: str, empty: str = "null") -> str:
    """A missing path is JSONata's *undefined*, which Step Functions refuses as a field
    value; references to it resolve to Sim's "empty": null, or ``""`` in text."""
    return f"($__v := {expr}; $exists($__v) ? $__v : {empty})"


#: The start block's fields besides the input format's (Sim's start output schema).
START_FIELDS = ("input", "conversationId", "files")


def output_fields(graph: Graph, block_id: str, seen: frozenset[str] = frozenset()) -> set[str] | None:
    """First-level output fields references may read; None means any (opaque).

    A condition's output carries the fields of the block feeding it (its first incoming
    edge), so a chain of conditions is followed back to a block that is not one (or to a
    condition already passed): with a loop, as such a chain may be thousands long."""
    fields: set[str] = set()
    passed = set(seen)
    current: str | None = block_id
    while current is not None:
        fields |= _own_fields(graph, current)
        feeding = None
        if graph.types[current].name == "condition":
            first = next((e.source for e in graph.incoming(current)), None)
            if first is not None and first not in passed:
                passed.add(current)
                feeding = first
        current = feeding
    return fields


def _own_fields(graph: Graph, block_id: str) -> set[str]:
    """The fields of a block's output without those a condition passes on."""
    btype = graph.types[block_id]
    block = graph.blocks[block_id]
    fields = set(btype.outputs)
    if btype.param_outputs is not None:
        fields |= btype.param_outputs(block.params)
    if btype.name == "start":
        fields |= {str(f["name"]) for f in block.params.get("inputFormat") or []
                   if isinstance(f, dict) and f.get("name")}
    elif btype.name == "approval":
        fields |= {str(f["name"]) for f in block.params.get("form") or []
                   if isinstance(f, dict) and f.get("name")}
        if block.params.get("notify"):
            fields.add("notificationResults")
    elif btype.name == "variables":
        fields |= {str(v["variableName"]) for v in block.params.get("variables") or []
                   if isinstance(v, dict) and v.get("variableName")}
    if graph.has_error_edge(block_id) or btype.name == "variables":
        fields.add("error")
    return fields


@dataclass
class Site:
    """Where a reference is compiled: the block it belongs to and its scope."""

    block: str
    scope: Scope
    containers: list[str]  # enclosing containers, innermost first
    stems: dict[str, str]
    wstems: dict[str, str]
    problems: list[str] = field(default_factory=list)


class Resolver:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.by_name: dict[str, str] = {}
        for block in graph.workflow.blocks:
            self.by_name.setdefault(block.ref_name, block.id)
        self.variables = {normalize_name(v.name): v.name for v in graph.workflow.variables}

    # -- single references ------------------------------------------------------------

    def resolve(self, ref: Ref, site: Site, *, text: bool = False, empty: str | None = None) -> str | None:
        """JSONata for one reference; None when Sim would leave the text as-is.

        ``text``: the reference sits in an ordinary string param (Sim's string template).
        There, as in Sim, what resolves to nothing (no block, loop, parallel or variable
        of that name; ``<loop.*>`` outside a loop; ``<parallel.currentItem>`` in a count
        parallel) stays as written, and "empty" is ``""``. In code and conditions such a
        reference is refused: Sim would paste the text into the program. ``empty``: the
        JSONata for "no value" (default ``""`` in text, else ``null``)."""
        head = normalize_name(ref.head)
        path = ref.path
        if empty is None:
            empty = '""' if text else "null"
        if head in ("loop", "parallel"):
            container = next((c for c in site.containers if self.graph.types[c].name == head), None)
            if container is None:
                if text:
                    return None
                raise RefError(f"<{ref.inner}> is used outside any {head}")
            return self._context(container, path, ref, text)
        if head == "variable":
            if text and not self._is_variable(path):
                return None
            return self._variable(path, ref, site)
        target = self.by_name.get(head)
        if target is None:
            if text:
                return None
            raise RefError(f"<{ref.inner}> refers to no block, loop, parallel or variable "
                           f"named '{ref.head}'")
        ttype = self.graph.types.get(target)
        if ttype is not None and ttype.is_container and target in site.containers:
            return self._context(target, path, ref, text)
        return self._block(target, path, ref, site, empty)

    def _context(self, container: str, path: list[str | int], ref: Ref, text: bool = False) -> str | None:
        stem = self._stem_of(container)
        field0 = path[0] if path else None
        kind = self.graph.types[container].name
        names = {"index": f"$i_{stem}", "iteration": f"$i_{stem}",
                 "currentItem": f"$it_{stem}", "item": f"$it_{stem}", "items": f"$its_{stem}"}
        if kind == "parallel":
            names.pop("iteration")
            names.pop("item")
        if field0 is None:
            return f'{{"index": $i_{stem}, "currentItem": $it_{stem}, "items": $its_{stem}}}'
        if field0 not in names:
            raise RefError(f"<{ref.inner}>: a {kind} offers {', '.join(sorted(names))} inside it")
        if field0 == "currentItem" and kind == "parallel" \
                and self.graph.blocks[container].params.get("parallelType", "count") != "collection":
            if text:
                return None  # Sim leaves it as written: a count parallel has no items
            raise RefError(f"<{ref.inner}>: a count parallel has no current item "
                           "(use <parallel.index>, or parallelType: collection)")
        expr = _path_expr(names[str(field0)], path[1:])
        return _null_safe(expr) if path[1:] else expr

    def _is_variable(self, path: list[str | int]) -> bool:
        return bool(path) and isinstance(path[0], str) and normalize_name(path[0]) in self.variables

    def _variable(self, path: list[str | int], ref: Ref, site: Site) -> str:
        if not path or not isinstance(path[0], str) or normalize_name(path[0]) not in self.variables:
            raise RefError(f"<{ref.inner}> refers to no workflow variable")
        name = self.variables[normalize_name(path[0])]
        scope = site.scope.lookup_wvar(name)
        assert scope is not None, name
        expr = _path_expr("$" + scope.wvar(site.wstems[name]), path[1:])
        return _null_safe(expr) if path[1:] else expr

    def _stem_of(self, block_id: str) -> str:
        return self._stems[block_id]

    def bind_stems(self, stems: dict[str, str]) -> None:
        self._stems = stems

    def _block(self, target: str, path: list[str | int], ref: Ref, site: Site, empty: str = "null") -> str:
        graph = self.graph
        if target not in set(graph.nodes):
            return empty  # disabled or unreachable: empty, as in Sim
        fields = output_fields(graph, target)
        first = path[0] if path else None
        undeclared = False
        if first is not None and fields is not None and first not in fields:
            if graph.types[target].name != "start":
                name = ref.head
                raise RefError(f"<{ref.inner}>: \"{first}\" doesn't exist on block \"{name}\". "
                               f"Available fields: {', '.join(sorted(fields))}")
            undeclared = True  # every key of the run input is a start field
        scope = site.scope.lookup_block(target)
        if scope is None:
            return empty  # not visible here (runs later or elsewhere): empty
        var = "$" + scope.bvar(site.stems[target])
        if undeclared:
            return self._undeclared_start_field(target, var, path, ref)
        if first == "error" and graph.types[target].name != "variables":
            name = ref.head
            avail = ", ".join(sorted((fields or set()) - {"error"}))
            msg = jsonata_error(f"\"error\" doesn't exist on block \"{name}\". Available fields: {avail}")
            return (f"($type({var}) = \"object\" ? ($exists({var}.error) ? "
                    f"{_path_expr(var, path)} : {msg}) : {empty})")
        if path:
            return _null_safe(_path_expr(var, path), empty)
        if empty == "null":
            return var
        return f"($__v := {var}; $exists($__v) and $type($__v) != \"null\" ? $__v : {empty})"

    def _undeclared_start_field(self, target: str, var: str, path: list[str | int], ref: Ref) -> str:
        """``<start.extra>`` for a key of the run input the input format does not declare:
        its value when the run input has it, else Sim's error (a block error: routable
        from handler blocks, as in Sim)."""
        declared = [str(f["name"]) for f in self.graph.blocks[target].params.get("inputFormat") or []
                    if isinstance(f, dict) and f.get("name")]
        avail = ", ".join([*START_FIELDS, *declared])
        msg = jsonata_error(f"\"{'.'.join(map(str, path))}\" doesn't exist on block \"{ref.head}\". "
                            f"Available fields: {avail}")
        return _null_safe(_path_expr(var, path), msg)

    def may_fail(self, text: str) -> bool:
        """Whether a reference in ``text`` can fail when it is resolved at run time (an
        input field the start block does not declare)."""
        for ref in find_refs(text):
            target = self.by_name.get(normalize_name(ref.head))
            path = ref.path
            if target is None or not path or self.graph.types.get(target) is None \
                    or self.graph.types[target].name != "start" or target not in set(self.graph.nodes):
                continue
            fields = output_fields(self.graph, target)
            if fields is not None and path[0] not in fields:
                return True
        return False

    # -- templates ----------------------------------------------------------------------

    def template(self, text: str, site: Site, *, data: bool = False) -> str | None:
        """A string param -> JSONata (None: a plain literal, no references).

        A string that is exactly one reference keeps the value's type; with no value (the
        block did not run, the path is missing) it is ``""``, Sim's empty text, or with
        ``data`` (a value inside a mapping or list param) ``null``."""
        sole = is_sole_ref(text)
        if sole is not None:
            return self._safe(sole, site, "null" if data else '""')
        refs = find_refs(text)
        parts: list[str] = []
        last = 0
        for ref in refs:
            expr = self._safe(ref, site)
            if expr is None:
                continue
            if ref.start > last:
                parts.append(json.dumps(text[last:ref.start]))
            parts.append(f"$__s({expr})")
            last = ref.end
        if not parts:
            return None
        if last < len(text):
            parts.append(json.dumps(text[last:]))
        return f"({STR_HELPER} {' & '.join(parts)})"

    def _safe(self, ref: Ref, site: Site, empty: str = '""') -> str | None:
        try:
            return self.resolve(ref, site, text=True, empty=empty)
        except RefError as exc:
            site.problems.append(str(exc))
            return "null"

    def value(self, value: Any, site: Site, _level: int = 0) -> Any:
        """Walk a block's params; strings with references become ``{% expr %}``."""
        if isinstance(value, str):
            expr = self.template(value, site, data=_level >= 2)
            return value if expr is None else "{% " + expr + " %}"
        if isinstance(value, list):
            return [self.value(v, site, _level + 1) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v, site, _level + 1) for k, v in value.items()}
        return value

    def value_expr(self, value: Any, site: Site, _level: int = 1) -> str:
        """One param's value as one JSONata expression (for Assign/Output bodies)."""
        if isinstance(value, str):
            expr = self.template(value, site, data=_level >= 2)
            return json.dumps(value) if expr is None else f"({expr})"
        if isinstance(value, list):
            return "[" + ", ".join(self.value_expr(v, site, _level + 1) for v in value) + "]"
        if isinstance(value, dict):
            items = ", ".join(f"{json.dumps(k)}: {self.value_expr(v, site, _level + 1)}"
                              for k, v in value.items())
            return "{" + items + "}"
        return json.dumps(value)

    @staticmethod
    def env_names(text: str) -> list[str]:
        return sorted({m.group(1) for m in ENV_PATTERN.finditer(text)})
