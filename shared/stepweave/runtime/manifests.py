"""Finding the manifest of the workflow behind a state machine.

The recorder's manifests directory holds:

- ``<workflow>.json``: ``CompiledWorkflow.manifest()`` of each deployed workflow::

      {"workflow": "support-timeline", "type": "EXPRESS",
       "blocks": {"<block id>": {"name": "...", "type": "function", "stem": "...",
                                 "containers": ["<innermost container id>", "..."]}},
       "states": {"<state name>": ["<block id>", "<role>"]}}

  roles: ``main``, ``start`` (a loop's initialising Pass), ``continue?`` (a loop's
  iteration Choice), ``?`` (a guard Choice), ``end``.
- ``index.json`` (optional): a JSON object mapping a state machine ARN or name to its
  workflow name, e.g. ``{"dev-support-timeline": "support-timeline"}``.

Without an index entry, the workflow is the one whose name is the state machine's name
or its suffix after a ``-`` or ``_`` (``<stage>-<workflow>``); the longest match wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stepweave.errors import StepweaveError

__all__ = ["Manifest", "ManifestError", "load_manifest", "state_machine_name", "workflow_for"]

INDEX_FILE = "index.json"


class ManifestError(StepweaveError):
    """A manifest file exists but cannot be read."""


class ManifestBlock(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str
    stem: str
    containers: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    workflow: str
    type: str = "STANDARD"
    blocks: dict[str, ManifestBlock]
    states: dict[str, tuple[str, str]]
    #: a split workflow's added states (``stepweave.runtime.stretches``); absent when unsplit
    split: dict[str, str] | None = None


def state_machine_name(state_machine_arn: str) -> str:
    """``arn:aws:states:<region>:<account>:stateMachine:<name>`` -> ``<name>`` (a name stays;
    a version or alias qualifier, ``...:<name>:live``, is not part of the name)."""
    parts = state_machine_arn.split(":")
    if len(parts) > 7 and parts[5] == "stateMachine":
        return parts[6]
    return parts[-1]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: {exc}") from None


def _safe_name(name: object) -> str | None:
    return name if isinstance(name, str) and name and Path(name).name == name else None


def workflow_for(directory: Path, state_machine_arn: str) -> str | None:
    """The workflow name behind a state machine, from ``index.json`` or the file names."""
    name = state_machine_name(state_machine_arn)
    index_path = directory / INDEX_FILE
    if index_path.is_file():
        index = _read_json(index_path)
        if isinstance(index, dict):
            found = _safe_name(index.get(state_machine_arn) or index.get(name))
            if found is not None:
                return found
    known = sorted((p.stem for p in directory.glob("*.json") if p.name != INDEX_FILE), key=len, reverse=True)
    return next((w for w in known if name == w or name.endswith(("-" + w, "_" + w))), None)


def load_manifest(directory: Path | None, state_machine_arn: str) -> dict[str, Any] | None:
    """The manifest dict for a state machine ARN (or name), or None when there is none."""
    if directory is None or not directory.is_dir():
        return None
    workflow = workflow_for(directory, state_machine_arn)
    path = directory / f"{workflow}.json" if workflow else None
    if path is None or not path.is_file():
        return None
    try:
        manifest = Manifest.model_validate(_read_json(path))
    except ValidationError as exc:
        raise ManifestError(f"{path}: not a workflow manifest ({exc.error_count()} problems)") from None
    return manifest.model_dump(exclude_none=True)
