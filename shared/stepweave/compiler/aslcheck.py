"""The static rules Step Functions applies to a definition when it is created.

moto's interpreter runs definitions that AWS refuses (a state nothing transitions to, a
field in the wrong place), so the compiler checks every definition it emits against the
rules AWS checks at ``CreateStateMachine`` / ``cdk deploy`` time: a regression is a
compile error naming the block, not a failed deployment. Checked here:

* every ``Next``/``Default``/Choice rule/Catch target names a state of the same ``States``
  map, and every state is reachable from ``StartAt`` (AWS: ``MISSING_TRANSITION_TARGET``,
  "State X is not reachable");
* each state type has exactly the fields AWS allows for it with ``QueryLanguage: JSONata``
  (no JSONPath fields such as ``Parameters`` or ``ResultPath``), one of ``Next``/``End``
  where a state needs one, and ``Choices`` on a Choice;
* state names: at most 80 characters, no control characters, unique across the machine;
* JSONata strings are one whole ``{% ... %}`` and their expressions read no field of the
  state's input at the top level (AWS: ``UNSUPPORTED_JSONATA_EXPRESSION``); see
  ``top_level_fields``;
* a distributed Map's ``ItemProcessor`` runs as child executions, which do not see the
  parent's variables nor ``$states.context.Map``: every variable it reads, it assigns
  (the parent passes values in through ``ItemSelector``); see ``outer_reads``.

The definition size (1 MB) is checked by the caller, which knows the serialised text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

__all__ = ["check_definition", "top_level_fields", "MAX_STATE_NAME", "variables_read",
           "assigned_variables", "outer_reads"]

MAX_STATE_NAME = 80
_COMMON = {"Type", "Comment", "QueryLanguage"}
_FLOW = {"Next", "End"}
_ERRORS = {"Retry", "Catch"}
#: The fields each state type may have in a JSONata state machine.
_FIELDS: dict[str, set[str]] = {
    "Task": _COMMON | _FLOW | _ERRORS | {"Resource", "Arguments", "Output", "Assign",
                                         "TimeoutSeconds", "HeartbeatSeconds", "Credentials"},
    "Pass": _COMMON | _FLOW | {"Output", "Assign"},
    "Wait": _COMMON | _FLOW | {"Seconds", "Timestamp", "Output", "Assign"},
    "Choice": _COMMON | {"Choices", "Default", "Output", "Assign"},
    "Parallel": _COMMON | _FLOW | _ERRORS | {"Branches", "Arguments", "Output", "Assign"},
    "Map": _COMMON | _FLOW | _ERRORS | {"ItemProcessor", "Items", "ItemSelector",
                                        "MaxConcurrency", "ToleratedFailurePercentage",
                                        "ToleratedFailureCount", "ItemReader", "ItemBatcher",
                                        "ResultWriter", "Label", "Output", "Assign"},
    "Succeed": _COMMON | {"Output"},
    "Fail": _COMMON | {"Error", "Cause"},
}
_NEEDS_FLOW = {"Task", "Pass", "Wait", "Parallel", "Map"}
_RULE_FIELDS = {"Condition", "Next", "Assign", "Output", "Comment"}
_CATCH_FIELDS = {"ErrorEquals", "Next", "Assign", "Output", "Comment"}
_RETRY_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
                 "MaxDelaySeconds", "JitterStrategy", "Comment"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: (state name, message) -> the problem as the caller reports it (naming the block)
Report = Callable[[str, str], None]
#: JSONata expressions -> for each, the fields it reads at the top level and its syntax
#: error (None when it parses)
FieldFinder = Callable[[list[str]], list[tuple[list[str], str | None]]]


def check_definition(definition: dict[str, Any], report: Report,
                     fields: FieldFinder | None = None) -> None:
    """Report every rule ``definition`` breaks (``fields``: see ``top_level_fields``)."""
    seen: dict[str, int] = {}
    _check_machine(definition, report, seen)
    for name, count in seen.items():
        if count > 1:
            report(name, f"state name {name!r} is used {count} times; Step Functions "
                         "needs state names unique across the state machine")
    if fields is not None:
        found = list(_jsonata_strings(definition))
        for (state_name, where, _text), (names, error) in zip(found, fields([f[2] for f in found])):
            if error is not None:
                report(state_name, f"{where}: the JSONata expression does not parse: {error}")
            for field in names:
                report(state_name, f"{where}: the JSONata expression reads the field "
                                   f"{field!r} of the state's input at the top level, which "
                                   "Step Functions refuses (UNSUPPORTED_JSONATA_EXPRESSION); "
                                   "read $states.input." + field + " or a variable")


def _check_machine(machine: dict[str, Any], report: Report, seen: dict[str, int]) -> None:
    """Check a machine and the machines nested in it, each nested one where it appears (an
    explicit stack instead of recursion: Parallel states may nest deeply)."""
    stack = [_machine_steps(machine, report, seen)]
    while stack:
        nested = next(stack[-1], None)
        if nested is None:
            stack.pop()
        else:
            stack.append(_machine_steps(nested, report, seen))


def _machine_steps(machine: dict[str, Any], report: Report,
                   seen: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Check one machine's states, yielding each nested machine to be checked in turn."""
    states: dict[str, Any] = machine.get("States") or {}
    start = machine.get("StartAt")
    if start not in states:
        report(str(start), f"StartAt {start!r} names no state")
    for name, state in states.items():
        seen[name] = seen.get(name, 0) + 1
        _check_name(name, report)
        _check_state(name, state, states, report)
        _check_child_execution(name, state, report)
        yield from state.get("Branches") or []
        if isinstance(state.get("ItemProcessor"), dict):
            yield state["ItemProcessor"]
    reached: set[str] = set()
    stack = [start] if start in states else []
    while stack:
        name = stack.pop()
        if name in reached:
            continue
        reached.add(name)
        stack.extend(t for t in _targets(states[name]) if t in states)
    for name in states:
        if name not in reached:
            report(name, f"state {name!r} is not reachable from {start!r}; Step Functions "
                         "refuses a state nothing transitions to")


def _check_child_execution(name: str, state: dict[str, Any], report: Report) -> None:
    """A distributed Map's children see only their input: no parent variable, no Map
    context (on AWS they would read nothing; the embedded engine refuses it the same way)."""
    processor = state.get("ItemProcessor")
    if not isinstance(processor, dict) or (processor.get("ProcessorConfig") or {}).get("Mode") != "DISTRIBUTED":
        return
    unknown = outer_reads(processor)
    if unknown:
        report(name, f"the distributed Map {name!r} runs child executions that read "
                     f"{', '.join('$' + v for v in unknown)}, which they do not assign: a child "
                     "execution does not see its parent's variables (pass them in through "
                     "ItemSelector and assign them when the child starts)")
    # the child's own states (an inline Map inside it has a Map context of its own)
    for state_name, child in (processor.get("States") or {}).items():
        own = {k: v for k, v in _own_fields(child).items() if k != "ItemSelector"}
        for text in _all_strings(own):
            if "$states.context.Map" in text:
                report(state_name, f"state {state_name!r} of the distributed Map {name!r} reads "
                                   "$states.context.Map: a child execution has no Map context "
                                   "(the ItemSelector, evaluated in the parent, has)")
                break


# -- the variables a machine reads and assigns ----------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_])(?!\s*\()")
_BOUND = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*:=")
_PARAMS = re.compile(r"function\s*\(([^)]*)\)")


def variables_read(expression: str) -> set[str]:
    """The variables a JSONata expression reads that it does not bind itself (``$x :=``, a
    function's parameters); ``$states`` and function calls are not variables. String
    literals are skipped; a name bound anywhere in the expression counts as bound."""
    code = _STRING.sub('""', expression)
    bound = set(_BOUND.findall(code))
    for params in _PARAMS.findall(code):
        bound.update(p.strip().lstrip("$") for p in params.split(",") if p.strip())
    return {name for name in _VAR.findall(code) if name not in bound and name != "states"}


def _machine_states(machine: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (name, state) of ``machine``, nested Parallel branches and inline Maps included
    (a distributed Map's own ItemProcessor is another execution: not included)."""
    found: list[tuple[str, dict[str, Any]]] = []
    pending = [machine]
    while pending:
        current = pending.pop()
        for name, state in (current.get("States") or {}).items():
            found.append((name, state))
            pending.extend(state.get("Branches") or [])
            processor = state.get("ItemProcessor")
            if isinstance(processor, dict) and \
                    (processor.get("ProcessorConfig") or {}).get("Mode") != "DISTRIBUTED":
                pending.append(processor)
    return found


def _own_fields(state: dict[str, Any]) -> dict[str, Any]:
    """A state's fields evaluated in its own execution (a distributed Map's ItemSelector
    is; its ItemProcessor is not)."""
    return {k: v for k, v in state.items() if k not in ("Branches", "ItemProcessor")}


def _all_strings(value: Any) -> Iterator[str]:
    return (text for _path, text in _strings(value, ""))


def assigned_variables(machine: dict[str, Any]) -> set[str]:
    """The variables some state of ``machine`` assigns (Assign, Choice rules', Catches')."""
    names: set[str] = set()
    for _name, state in _machine_states(machine):
        names.update(state.get("Assign") or {})
        for holder in [*(state.get("Choices") or []), *(state.get("Catch") or [])]:
            names.update(holder.get("Assign") or {})
    return names


def outer_reads(machine: dict[str, Any]) -> list[str]:
    """The variables ``machine`` reads that none of its states assigns."""
    read: set[str] = set()
    for _name, state in _machine_states(machine):
        for text in _all_strings(_own_fields(state)):
            for expr in _expressions(text):
                read |= variables_read(expr)
    return sorted(read - assigned_variables(machine))


def _check_name(name: str, report: Report) -> None:
    if len(name) > MAX_STATE_NAME:
        report(name, f"state name {name!r} is {len(name)} characters; Step Functions allows "
                     f"{MAX_STATE_NAME}")
    if _CONTROL.search(name):
        report(name, f"state name {name!r} has a control character")


def _check_state(name: str, state: dict[str, Any], states: dict[str, Any], report: Report) -> None:
    kind = state.get("Type")
    allowed = _FIELDS.get(str(kind))
    if allowed is None:
        report(name, f"state {name!r} has an unknown Type {kind!r}")
        return
    extra = sorted(set(state) - allowed)
    if extra:
        report(name, f"a {kind} state in a JSONata state machine cannot have "
                     f"{', '.join(extra)}")
    if kind in _NEEDS_FLOW and ("Next" in state) == bool(state.get("End")):
        report(name, f"state {name!r} needs exactly one of Next and End")
    if kind == "Choice" and not state.get("Choices"):
        report(name, f"Choice state {name!r} has no Choices")
    for rule in state.get("Choices") or []:
        _fields(name, rule, _RULE_FIELDS, "a Choice rule", report)
        if "Condition" not in rule or "Next" not in rule:
            report(name, f"a Choice rule of {name!r} needs Condition and Next")
    for catch in state.get("Catch") or []:
        _fields(name, catch, _CATCH_FIELDS, "a Catch", report)
    for retry in state.get("Retry") or []:
        _fields(name, retry, _RETRY_FIELDS, "a Retry", report)
    for target in _targets(state):
        if target not in states:
            report(name, f"state {name!r} goes to {target!r}, which is not a state here "
                         "(MISSING_TRANSITION_TARGET)")


def _fields(name: str, item: dict[str, Any], allowed: set[str], what: str, report: Report) -> None:
    extra = sorted(set(item) - allowed)
    if extra:
        report(name, f"{what} of {name!r} cannot have {', '.join(extra)}")


def _targets(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield str(state["Next"])
    if "Default" in state:
        yield str(state["Default"])
    for rule in state.get("Choices") or []:
        if "Next" in rule:
            yield str(rule["Next"])
    for catch in state.get("Catch") or []:
        if "Next" in catch:
            yield str(catch["Next"])


def _jsonata_strings(machine: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(state name, field path, expression) of every ``{% %}`` string, nested machines too
    (each after the state holding it; an explicit stack: machines may nest deeply)."""
    pending: list[Iterator[tuple[str, Any]]] = [iter((machine.get("States") or {}).items())]
    while pending:
        item = next(pending[-1], None)
        if item is None:
            pending.pop()
            continue
        name, state = item
        for key, value in state.items():
            if key in ("Branches", "ItemProcessor"):
                continue
            for path, text in _strings(value, key):
                yield from ((name, path, expr) for expr in _expressions(text))
        nested = list(state.get("Branches") or [])
        if isinstance(state.get("ItemProcessor"), dict):
            nested.append(state["ItemProcessor"])
        if nested:
            pending.append(chain.from_iterable((m.get("States") or {}).items() for m in nested))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))


def _expressions(text: str) -> list[str]:
    stripped = text.strip()
    if stripped.startswith("{%") and stripped.endswith("%}"):
        return [stripped[2:-2]]
    return []


# -- top-level field references ----------------------------------------------------------

def top_level_fields(ast: Any) -> list[str]:
    """The fields a JSONata expression reads of its input document at the top level, from
    its syntax tree (jsonata-js's ``ast()`` shape: ``{"type": "path", "steps": [...]}``...).

    ``$v.a`` reads ``a`` of a variable (fine); ``a.b`` or ``undefined`` at the top level
    reads the state's input, which Step Functions refuses at creation. Steps after the
    first of a path, predicates, sort terms, group-by and object constructors applied to a
    path are relative to that path's values (fine)."""
    found: list[str] = []
    stack: list[tuple[Any, bool]] = [(ast, False)]
    while stack:
        node, relative = stack.pop()
        if isinstance(node, list):
            stack.extend((item, relative) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "name" and not relative:
            found.append(str(node.get("value")))
        if kind == "path":
            steps = node.get("steps") or []
            stack.extend((step, relative or index > 0) for index, step in enumerate(steps))
            for key in ("group",):
                if node.get(key) is not None:
                    stack.append((node[key], True))
            continue
        for key, child in node.items():
            if key in ("type", "value", "position", "keepArray", "consarray", "tuple",
                       "ancestor", "slot", "focus", "index"):
                continue
            # predicates and stages filter the node's own values; group-by too
            inner = relative or key in ("predicate", "stages", "group")
            if kind == "sort" and key == "terms":
                inner = True
            stack.append((child, inner))
    return sorted(set(found))
