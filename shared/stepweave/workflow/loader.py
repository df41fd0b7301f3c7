"""Reading workflow files: YAML or JSON, our format or a Sim export.

Files are untrusted: every one ends in a ``Workflow`` or a ``WorkflowError`` naming the
file (and the line, block or field), within the limits of ``stepweave.workflow.limits``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.limits import (
    MAX_ALIAS_VALUES,
    MAX_BLOCKS,
    MAX_CONTAINER_DEPTH,
    MAX_EDGES,
    MAX_FILE_BYTES,
    MAX_FILE_DEPTH,
    MAX_NUMBER_DIGITS,
    MAX_PARAMS_DEPTH,
    TooDeep,
    loads_json,
    nesting_exceeds,
)
from stepweave.workflow.model import Workflow

__all__ = ["load_workflow", "parse_workflow", "parse_yaml", "parse_text", "read_text", "is_sim_export",
           "workflow_files", "test_files", "named_files", "WORKFLOW_SUFFIXES", "TEST_SUFFIXES"]


_TAG = "tag:yaml.org,2002:"
#: explicit tags that only say what the value already is
_PLAIN_TAGS = frozenset({_TAG + "str", _TAG + "seq", _TAG + "map"})
_NOT_NUMBERS = frozenset({".nan", ".inf", "+.inf", "-.inf"})


class _Refused(Exception):
    """A YAML feature workflow files do not use (tags...), or one used past its limits."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


class _Loader(yaml.SafeLoader):
    """The YAML of workflow files: JSON's data model written as YAML.

    * YAML 1.2 booleans: only true/false. (YAML 1.1 also reads yes/no/on/off as booleans,
      which silently turns a condition row named ``yes`` into ``True``.) Dates stay strings.
    * Anchors, aliases and merge keys (``<<: *shared``) share values, but what aliases
      repeat is at most ``MAX_ALIAS_VALUES`` values in all (an alias bomb repeats a
      kilobyte into gigabytes), and an alias may not sit inside the value it names.
    * No tags beyond ``!!str``/``!!seq``/``!!map``, string keys only, no ``.nan``/``.inf``
      and no integer longer than ``MAX_NUMBER_DIGITS`` digits: each refused with its line.
    * At most ``MAX_FILE_DEPTH`` levels of nesting (composing is recursive).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._open: list[str] = []  # anchors of the collections being composed
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
        self._repeated = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _PLAIN_TAGS:
            raise _Refused(f"YAML tag '{tag.replace(_TAG, '!!')}' is not allowed in "
                                   "workflow files", mark)
        nests = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if nests and self._depth >= MAX_FILE_DEPTH:
            raise _Refused(f"nested more than {MAX_FILE_DEPTH} levels deep",
                           mark)
        anchor = event.anchor if nests else None
        self._depth += nests
        if anchor is not None:
            self._open.append(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= nests
            if anchor is not None:
                self._open.pop()
        _check_node(node)
        return node

    def _alias(self, event: yaml.AliasEvent) -> yaml.Node:
        name, mark = event.anchor, event.start_mark
        if name in self._open:
            raise _Refused(f"YAML alias '*{name}' is inside the value it names",
                           mark)
        if name not in self.anchors:
            raise _Refused(f"YAML alias '*{name}' names no anchor", mark)
        node = self.anchors[name]
        self._repeated += self._size(node)
        if self._repeated > MAX_ALIAS_VALUES:
            raise _Refused(f"YAML alias '*{name}': aliases repeat more than "
                                   f"{MAX_ALIAS_VALUES:,} values (write them out)", mark)
        self.get_event()  # type: ignore[no-untyped-call]
        return node

    def _size(self, node: yaml.Node) -> int:
        """Values in ``node`` with aliases expanded (iteratively, each node counted once)."""
        sizes, pending = self._sizes, [(node, False)]
        while pending:
            item, children_done = pending.pop()
            if id(item) in sizes:
                continue
            children = _children(item)
            if children_done:
                sizes[id(item)] = 1 + sum(sizes[id(c)] for c in children)
            else:
                pending.append((item, True))
                pending.extend((c, False) for c in children if id(c) not in sizes)
        return sizes[id(node)]


def _check_node(node: yaml.Node | None) -> None:
    if isinstance(node, yaml.ScalarNode):
        value = str(node.value)
        if node.tag == _TAG + "int" and len(value.lstrip("+-")) > MAX_NUMBER_DIGITS:
            raise _Refused(f"a number longer than {MAX_NUMBER_DIGITS} digits",
                           node.start_mark)
        if node.tag == _TAG + "float" and value.lower() in _NOT_NUMBERS:
            raise _Refused(f"'{value}' is not a JSON number", node.start_mark)
    elif isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if not (isinstance(key, yaml.ScalarNode) and key.tag in (_TAG + "str", _TAG + "merge")):
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                raise _Refused(f"mapping key {shown!r} is not a string (quote it)",
                               key.start_mark)


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers
          if tag not in (_TAG + "bool", _TAG + "timestamp")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def parse_text(text: str, file: str) -> Any:
    """YAML or (for a `.json` file) JSON text, bounded as workflow files are; a
    ``WorkflowError`` naming ``file`` and the position when it is malformed."""
    try:
        if file.endswith(".json"):
            return loads_json(text)
        return parse_yaml(text)
    except json.JSONDecodeError as exc:
        what = "JSON" if isinstance(exc, TooDeep) else "malformed JSON"
        raise WorkflowError([Problem(file, f"{what} at line {exc.lineno}, "
                                           f"column {exc.colno}: {exc.msg}")]) from None
    except ValueError as exc:  # NaN, Infinity, a number too long (no position from json)
        raise WorkflowError([Problem(file, f"malformed JSON: {exc}")]) from None
    except _Refused as exc:
        mark = exc.mark
        raise WorkflowError([Problem(file, f"line {mark.line + 1}, column {mark.column + 1}: "
                                           f"{exc.problem}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowError([Problem(file, f"malformed YAML{where}: {problem}")]) from None


def is_sim_export(data: Any) -> bool:
    """Sim exports keep blocks in a map keyed by id (ours is a list)."""
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("data"), dict):
        data = data["data"]
    state = data.get("state", data)
    return isinstance(state, dict) and isinstance(state.get("blocks"), dict)


def _problem_from_error(file: str, data: dict[str, Any], error: Any) -> Problem:
    loc = list(error["loc"])
    block = None
    field = ".".join(str(p) for p in loc) or None
    if len(loc) >= 2 and loc[0] == "blocks" and isinstance(loc[1], int):
        blocks = data.get("blocks") or []
        raw = blocks[loc[1]] if loc[1] < len(blocks) else None
        block = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:]) or None
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "missing":
        message = "required field is missing"
    return Problem(file, message, block, field)


def _size_problems(data: dict[str, Any], file: str) -> list[Problem]:
    """More blocks or edges than a workflow may have."""
    problems = []
    for key, limit in (("blocks", MAX_BLOCKS), ("edges", MAX_EDGES)):
        items = data.get(key)
        if isinstance(items, list) and len(items) > limit:
            problems.append(Problem(file, f"{len(items):,} {key}; a workflow has at most "
                                          f"{limit:,}", None, key))
    return problems


def _container_problems(workflow: Workflow, file: str) -> list[Problem]:
    """The first block inside more than ``MAX_CONTAINER_DEPTH`` loops/parallels (counted
    iteratively; a cycle of parents ends the count, validation reports it)."""
    parents = {b.id: b.parent for b in workflow.blocks}
    depth: dict[str, int] = {}  # block -> how many containers enclose it
    for block in workflow.blocks:
        chain: list[str] = []
        node: str | None = block.id
        while node is not None and node in parents and node not in depth and node not in chain:
            chain.append(node)
            node = parents[node]
        level = depth[node] + 1 if node is not None and node in depth else 0
        for item in reversed(chain):
            depth[item] = level
            level += 1
    deep = next((b.id for b in workflow.blocks if depth.get(b.id, 0) > MAX_CONTAINER_DEPTH), None)
    if deep is None:
        return []
    return [Problem(file, f"inside more than {MAX_CONTAINER_DEPTH} nested loops/parallels", deep,
                    "parent")]


def _depth_problems(data: dict[str, Any], file: str) -> list[Problem]:
    """Params (and variable values) nested past ``MAX_PARAMS_DEPTH``, per block and field."""
    problems = []
    too_deep = f"nested more than {MAX_PARAMS_DEPTH} levels deep"
    blocks = data.get("blocks")
    for index, raw in enumerate(blocks if isinstance(blocks, list) else []):
        params = raw.get("params") if isinstance(raw, dict) else None
        if not isinstance(params, dict) or not nesting_exceeds(params, MAX_PARAMS_DEPTH):
            continue
        block = str(raw.get("id")) if isinstance(raw.get("id"), str) else f"#{index + 1}"
        problems += [Problem(file, too_deep, block, f"params.{key}") for key, value in params.items()
                     if nesting_exceeds(value, MAX_PARAMS_DEPTH - 1)]
    variables = data.get("variables")
    for index, raw in enumerate(variables if isinstance(variables, list) else []):
        if isinstance(raw, dict) and nesting_exceeds(raw.get("value"), MAX_PARAMS_DEPTH):
            problems.append(Problem(file, too_deep, None, f"variables.{index}.value"))
    return problems


def parse_workflow(data: Any, file: str) -> Workflow:
    """Validate already-parsed data into a ``Workflow`` (our format or a Sim export)."""
    if nesting_exceeds(data, MAX_FILE_DEPTH):
        raise WorkflowError([Problem(file, f"nested more than {MAX_FILE_DEPTH} levels deep")])
    if is_sim_export(data):
        from stepweave.workflow.sim import IMPORT_NOTES, import_sim_export

        data = import_sim_export(data, file)
        data.pop(IMPORT_NOTES, None)  # for `stepweave import`'s report
    if not isinstance(data, dict):
        raise WorkflowError([Problem(file, "a workflow file must contain a mapping at the top")])
    problems = _size_problems(data, file) or _depth_problems(data, file)
    if problems:
        raise WorkflowError(problems)
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        problems = [_problem_from_error(file, data, e) for e in exc.errors()]
        raise WorkflowError(problems) from None
    problems = _container_problems(workflow, file)
    if problems:
        raise WorkflowError(problems)
    return workflow


#: What a workflow file's name ends with; a workflow's tests end with ``.test`` and one of them.
WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")
TEST_SUFFIXES = tuple(f".test{suffix}" for suffix in WORKFLOW_SUFFIXES)


def workflow_files(folder: Path) -> list[Path]:
    """The workflow files of ``folder`` (not its subfolders), sorted; test files
    (``*.test.yaml``..., run by ``stepweave test``) are not workflows."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in WORKFLOW_SUFFIXES
                  and not p.name.lower().endswith(TEST_SUFFIXES))


def test_files(folder: Path) -> list[Path]:
    """The workflow tests of ``folder`` (``*.test.yaml``...), sorted."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name.lower().endswith(TEST_SUFFIXES))


def named_files(paths: list[str], in_folder: Callable[[Path], list[Path]]) -> list[Path]:
    """The files named on a command line, and ``in_folder(folder)`` for each folder named;
    a ``WorkflowError`` naming a path that is neither."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += in_folder(path)
        elif path.is_file():
            found.append(path)
        else:
            raise WorkflowError([Problem(raw, "no such file or folder")])
    return found


def load_workflow(path: str | Path) -> Workflow:
    """Read and schema-validate a workflow file. Graph checks are in ``validate``."""
    path = Path(path)
    file = str(path)
    if path.suffix.lower() not in WORKFLOW_SUFFIXES:
        raise WorkflowError([Problem(file, "workflow files end in .yaml, .yml or .json")])
    return parse_workflow(parse_text(read_text(path), file), file)


def read_text(path: Path) -> str:
    """A workflow file's text: at most ``MAX_FILE_BYTES`` of UTF-8."""
    file = str(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WorkflowError([Problem(file, f"cannot read file: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowError([Problem(file, f"file is larger than {MAX_FILE_BYTES // 2**20} MiB, "
                                           "the limit for workflow files")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowError([Problem(file, f"not UTF-8 text (byte {exc.start})")]) from None
