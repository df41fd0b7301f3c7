"""What compiling a workflow gives: its definition and what tools need to know about it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from stepweave.compiler.subworkflow import machine_placeholder
from stepweave.errors import Problem
from stepweave.triggers.declare import Trigger

__all__ = ["CompiledWorkflow"]

_NOT_A_PLACEHOLDER = re.compile(
    r"\$\{(?!(?:Handler_[a-z_]+|StateMachine_[A-Za-z0-9_]+|PayloadBucket)\})")


@dataclass(frozen=True)
class CompiledWorkflow:
    name: str
    definition: dict[str, Any]
    workflow_type: str  # "STANDARD" | "EXPRESS"
    handlers: tuple[str, ...]
    #: state name -> (block id, role) for progress reporting and block logs
    state_map: dict[str, tuple[str, str]]
    #: block id -> (name, type)
    blocks: dict[str, tuple[str, str]]
    #: block id -> enclosing containers, innermost first
    containers: dict[str, tuple[str, ...]]
    #: block id -> variable stem (``b<scope>_<stem>`` holds its output, ``t<scope>_<stem>`` its end time)
    stems: dict[str, str]
    #: what starts it from outside (webhook, schedule, event), as declared
    triggers: tuple[Trigger, ...] = ()
    #: sub-workflows, as the workflow blocks name them -> their compiled workflow
    children: dict[str, CompiledWorkflow] = field(default_factory=dict)
    #: the registry tools its approval blocks notify with (the notifier's permissions)
    notify_tools: tuple[str, ...] = ()
    #: handler -> the secrets its blocks may read (``stepweave.compiler.secrets``)
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: what the compiler can tell in advance will fail on AWS (``Problem``s, not fatal)
    warnings: tuple[Problem, ...] = ()
    #: the secrets the author wrote (``{{NAME}}``); the others are tools' and providers' defaults
    written_secrets: tuple[str, ...] = ()
    #: a split Standard workflow's Express stretches (``stepweave.compiler.split``), by the
    #: reference the parent's tasks name them with (``~1``...) -> their compiled state machine
    stretches: dict[str, CompiledWorkflow] = field(default_factory=dict)
    #: the states the split added (parent and stretches) -> the stretch a parent task runs
    #: ("" for the others); the recorder splices each stretch's history in their place
    split_states: dict[str, str] = field(default_factory=dict)

    def secrets_written(self) -> set[str]:
        """The ``{{NAME}}`` secrets the author wrote here and in the sub-workflows."""
        out = set(self.written_secrets)
        for child in self.children.values():
            out |= child.secrets_written()
        return out

    def secrets_by_handler(self) -> dict[str, set[str]]:
        """The secrets each handler may read for this workflow and its sub-workflows."""
        out: dict[str, set[str]] = {}
        for handler, names in self.secrets.items():
            out.setdefault(handler, set()).update(names)
        for child in self.children.values():
            for handler, child_names in child.secrets_by_handler().items():
                out.setdefault(handler, set()).update(child_names)
        return out

    def definition_json(self) -> str:
        return json.dumps(self.definition, indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    def manifest(self) -> dict[str, Any]:
        """What tools reading an execution need to know about the blocks: the block behind
        each state, and each block's name, type, enclosing containers and variable stem.
        JSON-serialisable; deployed with the recorder, passed to it in memory locally."""
        manifest: dict[str, Any] = {
            "workflow": self.name,
            "type": self.workflow_type,
            "blocks": {node: {"name": name, "type": btype, "stem": self.stems[node],
                              "containers": list(self.containers.get(node, ()))}
                       for node, (name, btype) in self.blocks.items()},
            "states": {state: [node, role] for state, (node, role) in self.state_map.items()},
        }
        if self.split_states:
            manifest["split"] = dict(self.split_states)
        return manifest

    def definition_string(self) -> str:
        """Compact JSON for deployment. ``${`` that is not a handler placeholder (e.g. a
        JavaScript template literal in a function block) is written ``\\u0024{``: the same
        JSON, but CloudFormation tooling no longer mistakes it for a parameter."""
        text = json.dumps(self.definition, separators=(",", ":"), ensure_ascii=False)
        return _NOT_A_PLACEHOLDER.sub(r"\\u0024{", text)

    def substitutions(self, arn_for: dict[str, str],
                      machine_arn_for: dict[str, str] | None = None) -> str:
        """The definition with handler ARNs (by handler) and the sub-workflows' and
        stretches' state machine ARNs (by the name the workflow blocks use, and by the
        stretch's reference) substituted."""
        text = self.definition_string()
        for handler in self.handlers:
            text = text.replace("${Handler_" + handler + "}", arn_for[handler])
        for ref in [*self.children, *self.stretches]:
            text = text.replace(machine_placeholder(ref), (machine_arn_for or {})[ref])
        return text
