"""The package's imports go one way (docs/architecture.md), checked from the source.

The import graph of ``shared/stepweave`` is read with ``ast`` (every ``import``, module level
or inside a function). GIVEN that graph THEN no module imports a layer above it, and the
import graph has no cycle: a new cycle fails, naming its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "shared"

#: package (or module) -> what it must never import
NEVER = {
    "stepweave.errors": {"stepweave.*"},
    "stepweave.values": {"stepweave.*"},
    "stepweave.paths": {"stepweave.*"},
    "stepweave.retries": {"stepweave.*"},
    "stepweave.v8": {"stepweave.*"},
    "stepweave.jsonata_library": {"stepweave.*"},
    "stepweave.refs": {"stepweave.*"},
    "stepweave.workflow": {"stepweave.compiler", "stepweave.local", "stepweave.cli"},
    "stepweave.compiler": {"stepweave.local", "stepweave.cli", "stepweave.api"},
    # the emitters see the lowerer through compiler.states.Lowering, never its class
    **{f"stepweave.compiler.{m}": {"stepweave.compiler.lower", "stepweave.compiler.emitters"}
       for m in ("states", "blocks", "native", "containers", "sandbox", "exclusive",
                 "subworkflow", "distributed")},
    "stepweave.runtime": {"stepweave.api", "stepweave.triggers", "stepweave.workflow",
                          "stepweave.blocks", "stepweave.ai", "stepweave.params",
                          "stepweave.tools", "stepweave.compiler", "stepweave.local",
                          "stepweave.cli"},
    "stepweave.blocks": {"stepweave.compiler", "stepweave.local", "stepweave.cli"},
    "stepweave.ai": {"stepweave.blocks", "stepweave.compiler", "stepweave.local", "stepweave.cli"},
    "stepweave.params": {"stepweave.ai", "stepweave.blocks", "stepweave.runtime",
                         "stepweave.compiler", "stepweave.local", "stepweave.cli"},
    "stepweave.tools": {"stepweave.params", "stepweave.ai", "stepweave.blocks",
                        "stepweave.compiler", "stepweave.local", "stepweave.cli"},
    # integrations are tools (declarations, their executor): the tools' layer
    "stepweave.integrations": {"stepweave.params", "stepweave.ai", "stepweave.blocks",
                               "stepweave.runtime", "stepweave.workflow", "stepweave.api",
                               "stepweave.triggers", "stepweave.compiler", "stepweave.local",
                               "stepweave.cli"},
    "stepweave.api": {"stepweave.compiler", "stepweave.local", "stepweave.cli"},
    "stepweave.triggers": {"stepweave.compiler", "stepweave.local", "stepweave.cli"},
    "stepweave.local": {"stepweave.cli"},
}
#: third-party packages only some layers may use
FOREIGN = {"aws_cdk": set(), "constructs": set(), "infra": set(), "functions": set(),
           "tests": set(), "moto": {"stepweave.local"}}
_ALLOWED_LEAF = {"stepweave.errors"}  # what the bottom helpers may import


def _modules() -> dict[str, Path]:
    found = {}
    for path in (PACKAGE / "stepweave").rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    graph[name].add(full if full in modules else base)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names)
        graph[name].discard(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    inner = {m: {t for t in targets if t in graph} for m, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in inner:
        if root in index:
            continue
        work = [(root, iter(sorted(inner[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(inner[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_no_import_cycles() -> None:
    cycles = [sorted(c) for c in _cycles(_imports(_modules()))]
    assert cycles == [], f"import cycles: {cycles}"


def test_no_module_imports_a_layer_above_it() -> None:
    graph = _imports(_modules())
    wrong = []
    for module, targets in sorted(graph.items()):
        for layer, never in NEVER.items():
            if not _within(module, layer):
                continue
            for target in targets:
                for banned in never:
                    if banned == "stepweave.*":
                        hit = _within(target, "stepweave") and not any(
                            _within(target, ok) for ok in _ALLOWED_LEAF | {layer})
                    else:
                        hit = _within(target, banned)
                    if hit:
                        wrong.append(f"{module} imports {target}")
        for package, allowed in FOREIGN.items():
            if any(_within(t, package) for t in targets) and not any(
                    _within(module, a) for a in allowed):
                wrong.append(f"{module} imports {package}")
    assert wrong == []
