"""Reading workflow files: YAML or JSON, our format or a Sim export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.model import Workflow

__all__ = ["load_workflow", "parse_workflow", "parse_yaml", "is_sim_export"]


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 also reads yes/no/on/off as
    booleans, which silently turns a condition row named ``yes`` into ``True``.)"""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _parse_text(text: str, file: str) -> Any:
    try:
        if file.endswith(".json"):
            return json.loads(text)
        return parse_yaml(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError([Problem(file, f"malformed JSON at line {exc.lineno}, "
                                           f"column {exc.colno}: {exc.msg}")]) from None
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


def parse_workflow(data: Any, file: str) -> Workflow:
    """Validate already-parsed data into a ``Workflow`` (our format or a Sim export)."""
    if is_sim_export(data):
        from stepweave.workflow.sim import import_sim_export

        data = import_sim_export(data, file)
    if not isinstance(data, dict):
        raise WorkflowError([Problem(file, "a workflow file must contain a mapping at the top")])
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        problems = [_problem_from_error(file, data, e) for e in exc.errors()]
        raise WorkflowError(problems) from None


def load_workflow(path: str | Path) -> Workflow:
    """Read and schema-validate a workflow file. Graph checks are in ``validate``."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowError([Problem(file, f"cannot read file: {exc.strerror}")]) from None
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise WorkflowError([Problem(file, "workflow files end in .yaml, .yml or .json")])
    return parse_workflow(_parse_text(text, file), file)
