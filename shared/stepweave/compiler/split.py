"""Standard only where it is needed: a Standard definition split into a Standard parent and
Express stretches.

Standard bills every state transition; Express bills a request and its duration. A workflow
is Standard because a few of its states need it (``anchors``): a task-token wait (approval),
a nested ``.sync`` execution (sub-workflow), a long wait, an unbounded loop. This post-pass
on the lowered definition keeps those in the parent and moves each maximal connected stretch
of the other top-level states into an Express state machine of its own, which the parent
runs with ``states:startExecution.sync:2`` (one transition for the whole stretch).

A child execution does not see the parent's variables, so each stretch is given, in its
input, the variables it reads (and those it may leave unchanged but returns), and returns
the variables it assigns that are read after it; the parent's task assigns them from the
child's output. The child's input is ``{"entry", "input", "vars", "execution"}`` (and
``AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID``, which links it to the parent in the console): which
state to start at (a stretch may be entered at several states, e.g. after an approval and
when it is skipped), what that state's input is in the unsplit machine, the variables, and
the parent's execution id (``$states.context.Execution.Id`` in the stretch reads it, so
handlers key stored payloads and records by the parent run). The child ends in an exit
state whose output is ``{"exit", "output", "vars"}``; when a stretch can leave towards more
than one parent state, a Choice in the parent routes on ``exit``.

A variable that was never assigned when the stretch starts arrives as null (Step Functions
cannot assign "undefined"): the compiler's expressions treat both alike (``!= null``).
An error nothing in the stretch catches fails the child; the parent fails with the same
error and cause (an error named ``States.*``, which a Fail state may not raise, as
``Stepweave.ExpressStretchFailed`` whose cause names it).

Split only when it lowers the transitions billed: a stretch is moved when its states
outnumber the parent states it costs (a task per entry, plus a Choice where it has
several exits) by at least ``MIN_SAVING``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from stepweave.compiler.aslcheck import check_definition
from stepweave.compiler.blocks import CALLBACK
from stepweave.compiler.compiled import CompiledWorkflow
from stepweave.compiler.distributed import PAYLOAD_BUCKET
from stepweave.compiler.estimate import history_warnings, iterations
from stepweave.compiler.graph import Graph
from stepweave.compiler.jsonata_syntax import jsonata_fields
from stepweave.compiler.subworkflow import START_SYNC, machine_placeholder
from stepweave.errors import Problem, WorkflowError
from stepweave.runtime.stretches import CHECKPOINTS_PREFIX, LEAD, LEAD_FAILED_ERROR, checkpoint_folder

__all__ = ["Stretch", "Split", "split_definition", "variables_read", "variables_assigned",
           "anchors", "STRETCH_FAILED_ERROR", "END", "stretch_ref", "MIN_SAVING",
           "EXPRESS_WAIT_SECONDS", "EXECUTION_VAR", "split_compiled", "CHECKPOINTS_PREFIX", "checkpoint_folder",
           "RESUMABLE_TYPES", "seconds"]

#: A stretch's exit that ends the run (its output is the run's output).
END = "!end"
STRETCH_FAILED_ERROR = "Stepweave.ExpressStretchFailed"
#: A stretch is split off only when it saves at least this many transitions per entry.
MIN_SAVING = 2
#: A wait up to this long stays in a stretch: its Express duration (64 MB) costs less than
#: the transition it would take in the parent.
EXPRESS_WAIT_SECONDS = 24
#: Express runs at most 5 minutes: a task that may take longer stays in the parent.
EXPRESS_TASK_SECONDS = 300
#: The variable a stretch reads the parent's execution id from.
EXECUTION_VAR = "sw_execution"
_EXECUTION_ID = "$states.context.Execution.Id"
#: Where a stretch that failed keeps its checkpoint (the payload bucket's objects under
#: ``<prefix>/<workflow>/<parent execution name>/<stretch>.json``) for a redrive to resume at.
_S3 = "arn:aws:states:::aws-sdk:s3:"
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_OTHER_CONTEXT = re.compile(r"\$states\.context\.(?!Execution\.Id\b|Map\.Item\b)")


def stretch_ref(index: int) -> str:
    """The reference of stretch ``index`` (1-based): its machine placeholder is
    ``${StateMachine__<index>}``, which no workflow name can give (names start with a
    letter or digit)."""
    return f"~{index}"


@dataclass(frozen=True)
class Stretch:
    ref: str
    definition: dict[str, Any]
    #: the unsplit definition's states it holds
    states: tuple[str, ...]
    #: variables passed in, and returned
    vars_in: tuple[str, ...]
    vars_out: tuple[str, ...]


@dataclass(frozen=True)
class Split:
    definition: dict[str, Any]
    stretches: tuple[Stretch, ...]
    #: every state the split added (parent and stretches) -> the stretch ref a parent task
    #: runs ("" for the other added states: exits, entries, routing, failure)
    added: dict[str, str] = field(default_factory=dict)


# -- variables ----------------------------------------------------------------------------

def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "{%" in item:
                yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def variables_read(state: dict[str, Any]) -> set[str]:
    """Every ``$name`` the state's JSONata (nested states included) mentions: a superset of
    the variables it reads (local bindings and functions too; the caller keeps those that
    are workflow variables)."""
    found: set[str] = set()
    for text in _strings(state):
        found.update(_VAR.findall(text))
    return found


def variables_assigned(state: dict[str, Any]) -> set[str]:
    """The variables the state assigns in the machine's own scope (its Assign, its Choice
    rules' and its Catches')."""
    names = set(state.get("Assign") or {})
    for rule in [*state.get("Choices", []), *state.get("Catch", [])]:
        names.update(rule.get("Assign") or {})
    return names


def _targets(state: dict[str, Any]) -> list[str]:
    out = [state[k] for k in ("Next", "Default") if isinstance(state.get(k), str)]
    out += [r["Next"] for r in [*state.get("Choices", []), *state.get("Catch", [])] if "Next" in r]
    return out


def _redirect(state: dict[str, Any], mapping: dict[str, str]) -> None:
    for key in ("Next", "Default"):
        if state.get(key) in mapping:
            state[key] = mapping[state[key]]
    for rule in [*state.get("Choices", []), *state.get("Catch", [])]:
        if rule.get("Next") in mapping:
            rule["Next"] = mapping[rule["Next"]]


# -- what needs Standard ------------------------------------------------------------------

def _needs_standard(state: dict[str, Any]) -> bool:
    kind = state.get("Type")
    if kind == "Task":
        resource = str(state.get("Resource", ""))
        if ".waitForTaskToken" in resource or ".sync" in resource:
            return True
        return seconds(state) > EXPRESS_TASK_SECONDS  # no timeout: unbounded
    if kind == "Wait":
        return seconds(state) > EXPRESS_WAIT_SECONDS  # a timestamp, or seconds from data: unbounded
    if kind == "Map" and (state.get("ItemProcessor", {}).get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
        return True
    if kind in ("Map", "Parallel"):
        inner = [state["ItemProcessor"]] if kind == "Map" else list(state.get("Branches", []))
        return any(_needs_standard(s) for machine in inner for s in machine.get("States", {}).values())
    return False


def anchors(states: dict[str, Any], unbounded: Iterable[str] = ()) -> set[str]:
    """The top-level states that stay in the Standard parent: those that need Standard,
    states reading context a child would not have, every state on a cycle through one of
    ``unbounded`` (an unbounded loop's states) and its Map states (an unbounded parallel's)."""
    found = {n for n, s in states.items()
             if s.get("Type") not in ("Fail", "Succeed")
             and (_needs_standard(s) or any(_OTHER_CONTEXT.search(t) for t in _strings(s)))}
    loops = set(unbounded) & set(states)
    if loops:
        for component in _cycles(states):
            if component & loops:
                found |= component
        found |= {n for n in loops if states[n].get("Type") == "Map"}  # a parallel's own Map
    return found


def _cycles(states: dict[str, Any]) -> list[set[str]]:
    """The strongly connected components with a cycle (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for root in states:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(_targets(states[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            nxt = next((t for t in it if t in states), None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(_targets(states[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in _targets(states[node]):
                    out.append(component)
    return out


# -- the split ----------------------------------------------------------------------------

class _Names:
    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    def take(self, wanted: str) -> str:
        base = wanted[:72]
        name, k = base, 2
        while name in self.taken:
            name, k = f"{base} ({k})", k + 1
        self.taken.add(name)
        return name


def seconds(state: dict[str, Any]) -> int:
    """How long ``state`` may take, once through, by its own limits: a Task its
    ``TimeoutSeconds``, a Wait its ``Seconds``, a Map or Parallel its longest branch (one
    iteration), anything else nothing."""
    kind = state.get("Type")
    if kind == "Task":
        timeout = state.get("TimeoutSeconds")
        return timeout if isinstance(timeout, int) else EXPRESS_TASK_SECONDS + 1
    if kind == "Wait":
        wait = state.get("Seconds")
        return wait if isinstance(wait, int) else EXPRESS_TASK_SECONDS + 1
    if kind in ("Map", "Parallel"):
        inner = [state.get("ItemProcessor") or state.get("Iterator") or {}] if kind == "Map" \
            else list(state.get("Branches", []))
        return max((_longest(m.get("States", {}), set(m.get("States", {})))[0] for m in inner), default=0)
    return 0


def _longest(states: dict[str, Any], group: set[str]) -> tuple[int, list[str]]:
    """The heaviest path (by ``seconds``) through ``group``'s states, a cycle's states
    counted once (an edge back into the path is not followed), and its states in order."""
    weight = {n: seconds(states[n]) for n in group}
    best: dict[str, tuple[int, str | None]] = {}  # state -> (seconds from it to the end, next)
    for root in group:
        if root in best:
            continue
        on_path: set[str] = {root}
        work: list[tuple[str, Iterator[str]]] = [(root, iter(_targets(states[root])))]
        while work:
            node, it = work[-1]
            nxt = next((t for t in it if t in group and t not in on_path and t not in best), None)
            if nxt is not None:
                on_path.add(nxt)
                work.append((nxt, iter(_targets(states[nxt]))))
                continue
            work.pop()
            on_path.discard(node)
            after = [(best[t][0], t) for t in _targets(states[node]) if t in best]
            tail, following = max(after, default=(0, None))
            best[node] = (weight[node] + tail, following)
    if not best:
        return 0, []
    start = max(best, key=lambda n: best[n][0])
    path: list[str] = []
    walked: set[str] = set()
    step: str | None = start
    while step is not None and step not in walked:
        path.append(step)
        walked.add(step)
        step = best[step][1]
    return best[start][0], path


def _within_express_time(states: dict[str, Any], movable: set[str]) -> list[list[str]]:
    """The connected groups of ``movable`` states, each cut (its heaviest path's middle
    state kept in the parent) until no path through it may take longer than an Express
    execution may run (``EXPRESS_TASK_SECONDS``, by the states' own timeouts, once through
    a loop): a stretch that overran would fail the run where the unsplit one goes on."""
    movable = set(movable)
    while True:
        groups = _components(states, movable)
        over = [(g, *_longest(states, set(g))) for g in groups]
        over = [(g, total, path) for g, total, path in over if total > EXPRESS_TASK_SECONDS]
        if not over:
            return groups
        for _group, total, path in over:
            running = 0
            for name in path:  # the state where the path passes half its time
                running += seconds(states[name])
                if running * 2 >= total:
                    movable.discard(name)
                    break


def _components(states: dict[str, Any], movable: set[str]) -> list[list[str]]:
    """Connected components (edges either way) of the movable states, in definition order."""
    neighbours: dict[str, set[str]] = {n: set() for n in movable}
    for name in movable:
        for target in _targets(states[name]):
            if target in movable:
                neighbours[name].add(target)
                neighbours[target].add(name)
    seen: set[str] = set()
    out: list[list[str]] = []
    for name in states:
        if name not in movable or name in seen:
            continue
        group, todo = {name}, [name]
        seen.add(name)
        while todo:
            for other in neighbours[todo.pop()]:
                if other not in seen:
                    seen.add(other)
                    group.add(other)
                    todo.append(other)
        out.append([n for n in states if n in group])
    return out


def _reach(states: dict[str, Any], start: str, inside: set[str]) -> set[str]:
    """States of ``inside`` reachable from ``start`` without leaving ``inside``."""
    seen, todo = {start}, [start]
    while todo:
        for target in _targets(states[todo.pop()]):
            if target in inside and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _reaches(states: dict[str, Any], starts: Iterable[str], goal: set[str]) -> bool:
    todo = [s for s in starts if s in states]
    seen = set(todo)
    while todo:
        name = todo.pop()
        if name in goal:
            return True
        for target in _targets(states[name]):
            if target in states and target not in seen:
                seen.add(target)
                todo.append(target)
    return False


@dataclass
class _Plan:
    states: list[str]
    entries: list[str]
    #: entry -> the exits reachable from it (a parent state, or END)
    exits: dict[str, list[str]]
    #: the Fail and Succeed states it uses (copied into the child)
    terminals: list[str]


def _plan(states: dict[str, Any], group: list[str], start_at: str) -> _Plan:
    inside = set(group)
    preds = {t for n, s in states.items() if n not in inside for t in _targets(s)}
    entries = [n for n in group if n in preds or n == start_at]
    terminals: list[str] = []
    exits: dict[str, list[str]] = {}
    for entry in entries:
        found: list[str] = []
        for name in [n for n in group if n in _reach(states, entry, inside)]:
            state = states[name]
            if state.get("End"):
                found.append(END)
            for target in _targets(state):
                if target in inside:
                    continue
                kind = states[target].get("Type")
                if kind in ("Fail", "Succeed"):
                    if target not in terminals:
                        terminals.append(target)
                    if kind == "Succeed":
                        found.append(END)
                else:
                    found.append(target)
        exits[entry] = list(dict.fromkeys(found))
    return _Plan(group, entries, exits, [n for n in states if n in terminals])


def _saving(plan: _Plan) -> int:
    cost = sum(1 + (len(plan.exits[e]) > 1) for e in plan.entries)
    return len(plan.states) - cost


def _jstr(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _or_null(expr: str) -> str:
    return f"($exists({expr}) ? {expr} : null)"


def _vars_object(names: Iterable[str]) -> str:
    return "{" + ", ".join(f"{_jstr(v)}: ${v}" for v in names) + "}"


def split_definition(definition: dict[str, Any], unbounded: Iterable[str] = (),
                     workflow: str = "") -> Split | None:
    """The split of a Standard ``definition``, or None when no stretch lowers its cost.
    ``unbounded``: the states of loops without a fixed bound (they stay in the parent)."""
    states: dict[str, Any] = definition["States"]
    fixed = anchors(states, unbounded)
    if not fixed:
        return None  # nothing needs Standard: the whole workflow would be Express
    movable = {n for n, s in states.items() if n not in fixed and s.get("Type") not in ("Fail", "Succeed")}
    groups = _within_express_time(states, movable)
    plans = [p for p in (_plan(states, g, definition["StartAt"]) for g in groups)
             if _saving(p) >= MIN_SAVING]
    if not plans:
        return None
    assigned = {n: variables_assigned(s) for n, s in states.items()}
    universe = set().union(*assigned.values())
    read = {n: variables_read(s) & universe for n, s in states.items()}
    names = _Names(states)
    parent: dict[str, Any] = {n: copy.deepcopy(s) for n, s in states.items()}
    added: dict[str, str] = {}
    stretches: list[Stretch] = []
    redirect: dict[str, str] = {}
    failed: str | None = None
    end: str | None = None
    start_at = definition["StartAt"]
    live_cache: dict[str, set[str]] = {}
    #: a parent task running a stretch -> (its stretch, its entry's exits, its exit Choice)
    tasks: dict[str, tuple[Stretch, list[str], str | None]] = {}
    for k, plan in enumerate(plans, start=1):
        ref = stretch_ref(k)
        inside = set(plan.states)
        outside = [n for n in states if n not in inside]
        out_read = set().union(*(read[n] for n in outside)) if outside else set()
        out_assigned = set().union(*(assigned[n] for n in outside)) if outside else set()
        in_read = set().union(*(read[n] for n in plan.states))
        in_assigned = set().union(*(assigned[n] for n in plan.states))
        exit_targets = {x for xs in plan.exits.values() for x in xs if x != END}
        reentrant = len(plan.entries) > 1 or _reaches(states, exit_targets, inside)
        vars_out = sorted(in_assigned & (out_read | (in_read if reentrant else set())))
        vars_in = sorted((in_read | set(vars_out)) & (out_assigned | (in_assigned if reentrant else set())))
        child = _child(states, plan, names, vars_in, vars_out, added, workflow, k,
                       live=lambda target: _live_at(states, read, target, live_cache))
        resumable = any(s.get("Type") in RESUMABLE_TYPES for s in (states[n] for n in plan.states))
        stretches.append(Stretch(ref, {"Comment": f"Stepweave workflow {workflow}: express stretch {k}",
                                       "QueryLanguage": "JSONata", "StartAt": child[0],
                                       "States": child[1]},
                                 tuple(plan.states), tuple(vars_in), tuple(vars_out)))
        for name in plan.states:
            parent.pop(name, None)
        for entry in plan.entries:
            task = names.take(f"{entry} (express)")
            added[task] = ref
            redirect[entry] = task
            if failed is None:
                failed = names.take("Express stretch failed")
                added[failed] = ""
            # only what may have been assigned on the way here (none at the start)
            before = set().union(*(assigned[n] for n in _ancestors(states, entry)))
            argument = ("{" + (f'"entry": {_jstr(entry)}, ' if len(plan.entries) > 1 else "")
                        + f'"input": $states.input, '
                        + f'"vars": {_vars_object(v for v in vars_in if v in before)}, '
                        + f'"execution": {_EXECUTION_ID}, '
                        # a redriven run's stretch resumes where it failed (``_resume``)
                        + ('"redrive": $states.context.Execution.RedriveCount, ' if resumable else "")
                        # the console links the child execution to the parent's
                        + f'"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": {_EXECUTION_ID}' + "}")
            state: dict[str, Any] = {
                "Type": "Task", "Resource": START_SYNC,
                "Arguments": {"StateMachineArn": machine_placeholder(ref), "Input": "{% " + argument + " %}"},
                "Retry": [{"ErrorEquals": ["StepFunctions.ExecutionLimitExceeded"]}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": failed}]}
            if vars_out:
                state["Assign"] = {v: "{% " + _or_null(f"$states.result.Output.vars.{v}") + " %}"
                                   for v in vars_out}
            exits = plan.exits[entry]
            tasks[task] = (stretches[-1], exits, None)
            if len(exits) == 1:
                state["Output"] = "{% $states.result.Output.output %}"
                if exits[0] == END:
                    state["End"] = True
                else:
                    state["Next"] = exits[0]
            else:
                route = names.take(f"{entry} (express) exit")
                added[route] = ""
                tasks[task] = (stretches[-1], exits, route)
                state["Output"] = "{% $states.result.Output %}"
                state["Next"] = route
                targets = []
                for x in exits:
                    if x == END and end is None:
                        end = names.take("Express stretch ended")
                        added[end] = ""
                    targets.append((x, end if x == END else x))
                parent[route] = {
                    "Type": "Choice",
                    "Choices": [{"Condition": "{% $states.input.exit = " + _jstr(x) + " %}", "Next": t}
                                for x, t in targets[:-1]],
                    "Default": targets[-1][1], "Output": "{% $states.input.output %}"}
            parent[task] = state
    for state in parent.values():
        _redirect(state, redirect)
    start_at = redirect.get(start_at, start_at)
    if failed is not None:
        parent[failed] = _failure()
    if end is not None:
        parent[end] = {"Type": "Succeed"}
    for approval in [n for n, s in parent.items() if _is_approval(s)]:
        start_at = _lead_in(parent, approval, tasks, added, names, start_at, failed)
    # keep the definition's order: each task where its entry was
    ordered: dict[str, Any] = {}
    for name in states:
        if name in parent:
            ordered[name] = parent.pop(name)
        elif redirect.get(name) in parent:
            ordered[redirect[name]] = parent.pop(redirect[name])
            route = ordered[redirect[name]].get("Next")
            if route in parent and route in added:
                ordered[route] = parent.pop(route)
    ordered.update(parent)
    _drop_unreachable(ordered, start_at)
    out = {k: v for k, v in definition.items() if k not in ("StartAt", "States")}
    return Split({**out, "StartAt": start_at, "States": ordered}, tuple(stretches), added)


# -- an approval runs the stretch before it ------------------------------------------------
#
# A stretch whose run either ends or asks one approval next costs the parent two transitions
# before the approval: its task, and the Choice on where it left. When the approval's Lambda
# (the notifier) runs that stretch itself (StartSyncExecution), the parent holds the approval
# task alone: the notifier answers the task token at once when the stretch ended the run (or
# fails the task with the stretch's error), and else asks for the approval with the
# parameters the stretch computed (the approval's own, evaluated where its variables are) and
# keeps the variables the stretch returned in the request, which the decision gives back to
# the task (``stepweave.runtime.lead_in``). The stretch after the approval passes an ended
# run's output through (one Express request, no transition). Two transitions fewer on every
# run; taken only where it keeps the unsplit run's behaviour: the approval follows that
# stretch alone, a stretch that can end the run follows it, and an approval's failure fails
# the run (no error edge would need the variables the task never got); and only where it
# costs less: the notifier is billed while it waits on the stretch, so a stretch that calls a
# model or waits (``_waits_long``) keeps its own task.

#: Handlers that wait on a model, seconds a call: the notifier would be billed while they run
_SLOW_HANDLERS = ("agent", "router", "evaluator")


def _waits_long(definition: dict[str, Any]) -> bool:
    """Whether a stretch may keep the notifier waiting long: it calls a model or has a Wait
    state. The notifier (192 MB) is billed about $2.50 per 1M runs for each second it waits
    on the stretch, against the $50 the two transitions cost: such a stretch keeps its task."""
    text = json.dumps(definition)
    return any("${Handler_" + h + "}" in text for h in _SLOW_HANDLERS) or '"Type": "Wait"' in text


def _is_approval(state: dict[str, Any]) -> bool:
    payload = (state.get("Arguments") or {}).get("Payload") if isinstance(state.get("Arguments"), dict) else None
    return (state.get("Type") == "Task" and state.get("Resource") == CALLBACK
            and isinstance(payload, dict) and (payload.get("block") or {}).get("type") == "approval")


def _preds(parent: dict[str, Any], goal: str) -> set[str]:
    return {n for n, s in parent.items() if goal in _targets(s)}


def _lead_in(parent: dict[str, Any], approval: str, tasks: dict[str, tuple[Stretch, list[str], str | None]],
             added: dict[str, str], names: _Names, start_at: str, failed: str | None) -> str:
    """Let ``approval`` run the stretch before it, when that keeps the run's behaviour; the
    parent's (maybe new) StartAt."""
    state = parent[approval]
    preds = _preds(parent, approval)
    if len(preds) != 1 or failed is None:
        return start_at
    (before,) = preds
    task, route = (before, None) if before in tasks else next(
        ((t, r) for t, (_s, _x, r) in tasks.items() if r == before), (None, None))
    if task is None or start_at == before and route is not None:
        return start_at
    stretch, exits, task_route = tasks[task]
    if task_route != route or set(exits) - {approval, END} or approval not in exits:
        return start_at
    if route is not None and _preds(parent, route) != {task}:
        return start_at
    after = state.get("Next")
    if after not in tasks or _preds(parent, after) != {approval} or END not in tasks[after][1]:
        return start_at
    if any(parent.get(c.get("Next"), {}).get("Type") != "Fail" for c in state.get("Catch", [])):
        return start_at
    if state.get("Output", {}) != {} or any(_OTHER_CONTEXT.search(t) for t in _strings(state["Arguments"]["Payload"].get("params"))):
        return start_at
    if _waits_long(stretch.definition):
        return start_at
    exit_pass = next((n for n, s in stretch.definition["States"].items()
                      if s.get("Type") == "Pass" and s.get("End") and added.get(n) == ""
                      and isinstance(s.get("Output"), dict) and s["Output"].get("exit") == approval), None)
    if exit_pass is None:
        return start_at
    later = tasks[after][0]
    # the stretch computes the approval's parameters where its variables are
    payload = state["Arguments"]["Payload"]
    params = payload.get("params", {})
    child = stretch.definition["States"]
    child[exit_pass]["Output"]["params"] = _rewrite_execution({"p": params})["p"]
    enter = child[stretch.definition["StartAt"]]
    if _EXECUTION_ID in json.dumps(params) and EXECUTION_VAR not in enter.get("Assign", {}):
        enter.setdefault("Assign", {})[EXECUTION_VAR] = "{% $states.input.execution %}"
    payload["params"] = {}
    payload["stretch"] = dict(parent[task]["Arguments"])
    result = "$states.result.output"
    own = {k: "{% $exists(" + result + ") ? (" + v[2:-2].strip().replace("$states.result", result) + ") : null %}"
           for k, v in (state.get("Assign") or {}).items()}
    carried = {k: v.replace("$states.result.Output.vars.", "$states.result.vars.")
               for k, v in (parent[task].get("Assign") or {}).items()}
    state["Assign"] = {**carried, **own}
    state["Output"] = '{% $exists($states.result.ended) ? {"ended": $states.result.ended} : {} %}'
    if isinstance(state.get("TimeoutSeconds"), int):
        state["TimeoutSeconds"] += EXPRESS_TASK_SECONDS  # the stretch runs first, in the task
    state["Catch"] = [{"ErrorEquals": [LEAD_FAILED_ERROR], "Next": failed}, *state.get("Catch", [])]
    # the stretch after the approval: an ended run's output, passed through
    arguments = parent[after]["Arguments"]
    arguments["Input"] = '{% {"ended": $states.input.ended, ' + arguments["Input"][len("{% {"):]
    later_states = later.definition["States"]
    enter_name = later.definition["StartAt"]
    check, passed = names.take(f"Ended before {approval}?"), names.take(f"Ended before {approval}")
    added[check] = added[passed] = ""
    later_states[check] = {"Type": "Choice", "Choices": [{
        "Condition": "{% $exists($states.context.Execution.Input.ended) %}", "Next": passed}],
        "Default": later_states[enter_name]["Next"]}
    later_states[passed] = {"Type": "Pass", "End": True,
                            "Output": {"exit": END, "output": "{% $states.context.Execution.Input.ended %}"}}
    later_states[enter_name]["Next"] = check
    # the parent: the approval where the stretch's task was
    for name in [task, *([route] if route else [])]:
        del parent[name]
        added.pop(name, None)
    for other in parent.values():
        _redirect(other, {task: approval})
    added[approval] = LEAD + stretch.ref
    return approval if start_at == task else start_at


def _failure() -> dict[str, Any]:
    """The parent's Fail state re-raising what failed a child (its DescribeExecution JSON in
    the task error's Cause, or the task error itself when the child did not start)."""
    parsed = ('$c := $states.input.Cause; $p := $type($c) = "string" and $substring($c, 0, 1) = "{" '
              '? $parse($c) : {}; $e := $type($p.Error) = "string" ? $p.Error : $states.input.Error; '
              '$k := $type($p.Cause) = "string" ? $p.Cause : ($type($p.Error) = "string" ? "" : '
              '($type($c) = "string" ? $c : "")); $s := $substring($e, 0, 7) = "States."')
    return {"Type": "Fail",
            "Error": "{% (" + parsed + "; $s ? " + _jstr(STRETCH_FAILED_ERROR) + " : $e) %}",
            "Cause": "{% (" + parsed + '; $s ? $e & ": " & $k : $k) %}'}


def _live_at(states: dict[str, Any], read: dict[str, set[str]], target: str,
             cache: dict[str, set[str]]) -> set[str]:
    """The variables that may be read from ``target`` on (by any state reachable from it,
    itself included): those a stretch leaving towards it must return; the others are never
    read again."""
    if target not in cache:
        cache[target] = set().union(*(read.get(n, set()) for n in _reach(states, target, set(states))))
    return cache[target]


def _child(states: dict[str, Any], plan: _Plan, names: _Names, vars_in: list[str],
           vars_out: list[str], added: dict[str, str], workflow: str = "",
           index: int = 1, live: Any = None) -> tuple[str, dict[str, Any]]:
    """(StartAt, States) of a stretch's own state machine. ``live``: target -> the
    variables read from it on (an exit returns only those of ``vars_out``)."""
    inside = set(plan.states)
    out: dict[str, Any] = {}
    enter = names.take("Enter express stretch")
    added[enter] = ""
    resumable = [n for n in plan.states if states[n].get("Type") in RESUMABLE_TYPES]
    uses_execution = bool(resumable) or any(_EXECUTION_ID in t for n in plan.states for t in _strings(states[n]))
    assign = {v: "{% " + _or_null(f"$states.input.vars.{v}") + " %}" for v in vars_in}
    if uses_execution:
        assign[EXECUTION_VAR] = "{% $states.input.execution %}"
    entry_choice = None
    read = None
    if len(plan.entries) > 1 or resumable:
        entry_choice = names.take("Express stretch entry")
        added[entry_choice] = ""
    if len(plan.entries) > 1:
        assign["sw_entry"] = "{% $states.input.entry %}"
    if resumable:  # a redriven parent's stretch first looks for its checkpoint (``_resume``)
        read = names.take("Read checkpoint")
        assign[_REDRIVE] = _js('$type($states.input.redrive) = "number" ? $states.input.redrive : 0')
    out[enter] = {"Type": "Pass", **({"Assign": assign} if assign else {}),
                  "Output": "{% $states.input.input %}", "Next": entry_choice or plan.entries[0]}
    if entry_choice is not None:
        out[entry_choice] = {"Type": "Choice",
                             "Choices": ([{"Condition": _js(f"${_REDRIVE} > 0"), "Next": read}] if read else [])
                             + [{"Condition": "{% $sw_entry = " + _jstr(e) + " %}", "Next": e}
                                for e in plan.entries[1:]],
                             "Default": plan.entries[0]}
    exits: dict[str, str] = {}

    def exit_state(target: str) -> str:
        if target not in exits:
            name = names.take("Express stretch ends" if target == END else f"Exit to {target}")
            added[name] = ""
            exits[target] = name
        return exits[target]

    vars_value = _vars_object(vars_out)
    for name in plan.states:
        state = copy.deepcopy(states[name])
        _redirect(state, {t: exit_state(t) for t in _targets(state)
                          if t not in inside and t not in plan.terminals})
        if state.pop("End", None):
            state["Next"] = exit_state(END)
        out[name] = _rewrite_execution(state)
    for name in plan.terminals:
        state = copy.deepcopy(states[name])
        if state["Type"] == "Succeed":
            state["Output"] = {"exit": END, "output": state.get("Output", "{% $states.input %}")}
        out[name] = _rewrite_execution(state)
    for target, name in exits.items():
        if target != END and live is not None:  # what is read after it (the rest: null)
            vars_value = _vars_object(v for v in vars_out if v in live(target))
        returned = {} if target == END else {"vars": "{% " + vars_value + " %}"}
        out[name] = {"Type": "Pass", "Output": {"exit": target, "output": "{% $states.input %}", **returned},
                     "End": True}
    if entry_choice is not None and read is not None:
        _resume(out, entry_choice, read, resumable, names, added,
                checkpoint_folder(workflow), f"/{index}.json")
    return enter, out


# -- a redrive resumes a stretch where it failed -------------------------------------------
#
# Step Functions redrives a failed Standard execution from its failed state. When that is a
# stretch's task, a new Express child starts: an Express execution cannot itself be redriven,
# and without more, the stretch would run again from its first state, running again the
# blocks that had succeeded in it. So a stretch keeps a checkpoint when it fails: each of its
# top-level Task, Map and Parallel states that fails the stretch (a Catch to a Fail state, or
# an error nothing catches) first writes which state failed, that state's input and every
# variable of the stretch to the payload bucket (one object per parent execution and
# stretch; a failed write does not stop the failure). A stretch started by a redriven parent
# (its input's ``redrive``, the parent's ``RedriveCount``, above 0) reads that checkpoint,
# deletes it (a later run of the same stretch, after the redrive, starts afresh), restores
# the variables and goes on at the failed state with its input, as the unsplit run's redrive
# would. Without a checkpoint (none written, or it cannot be read or deleted, or it belongs to
# another entry of the stretch) the stretch starts from its entry, as before. Costs nothing
# until a stretch fails: on the way through, one rule of the Choice that picks the entry.

#: The top-level states a stretch resumes at: those that may fail it.
RESUMABLE_TYPES = ("Task", "Map", "Parallel")
#: A larger checkpoint is not kept (the stretch then starts afresh when redriven).
CHECKPOINT_MAX_BYTES = 240_000
_AT, _AT_INPUT, _REDRIVE = "sw_at", "sw_at_input", "sw_redrive"


def _js(text: str) -> str:
    return "{% " + text + " %}"


def _resume(out: dict[str, Any], entry: str, read: str, resumable: list[str], names: _Names,
            added: dict[str, str], folder: str, leaf: str) -> None:
    """Add checkpoints and resumption to the stretch ``out``, whose ``entry`` Choice goes to
    ``read`` when the parent was redriven."""
    every = sorted(set().union(*(variables_assigned(s) for s in out.values())) - {_REDRIVE})
    vars_value = "{" + ", ".join(f"{_jstr(v)}: {_or_null('$' + v)}" for v in every) + "}"

    def key(execution: str) -> str:
        return _js(f"{_jstr(folder + '/')} & $split({execution}, \":\")[-1] & {_jstr(leaf)}")

    saves: dict[str, str] = {}

    def save(target: str) -> str:
        """The task writing the checkpoint, then going on to ``target`` (a Fail state)."""
        if target not in saves:
            name = names.take(f"Keep checkpoint ({target})")
            fits = names.take(f"Checkpoint fits ({target})?")
            added[name] = added[fits] = ""
            body = ('$string({"at": $' + _AT + ', "input": $' + _AT_INPUT + ', "entry": '
                    + _or_null("$states.context.Execution.Input.entry") + f', "vars": {vars_value}}})')
            # read back, it must fit in a state's result (256 KiB): at most 240,000 bytes. A
            # character is at most 4 bytes; URL-encoded, every byte is 1 or 3 characters, so
            # the encoded length is never less than the length in bytes. The body is built
            # twice (here, local to the condition, and in the write): kept in a variable
            # between the two, one over 256 KiB would fail the stretch with
            # States.DataLimitExceeded, which nothing catches, instead of its own error
            out[fits] = {"Type": "Choice", "Choices": [{
                "Condition": _js(f"($b := {body}; $length($b) <= {CHECKPOINT_MAX_BYTES // 4} or "
                                 f"$length($encodeUrlComponent($b)) <= {CHECKPOINT_MAX_BYTES})"),
                "Next": name}], "Default": target}
            out[name] = {
                "Type": "Task", "Resource": _S3 + "putObject",
                "Arguments": {"Bucket": PAYLOAD_BUCKET, "Key": key("$" + EXECUTION_VAR),
                              "ContentType": "application/json", "Body": _js(body)},
                "Output": _js("$states.input"), "Next": target,
                # no checkpoint: a redrive runs the stretch from its entry
                "Catch": [{"ErrorEquals": ["States.ALL"], "Output": _js("$states.input"), "Next": target}]}
            saves[target] = fits
        return saves[target]

    rethrow: str | None = None
    for name in resumable:
        state = out[name]
        mark = {_AT: name, _AT_INPUT: _js("$states.input")}
        catches = state.setdefault("Catch", [])
        for catch in catches:
            if out.get(catch["Next"], {}).get("Type") == "Fail":
                catch["Assign"] = {**catch.get("Assign", {}), **mark}
                catch["Next"] = save(catch["Next"])
        if not any("States.ALL" in c["ErrorEquals"] for c in catches):
            if rethrow is None:
                rethrow = names.take("Raise what failed the stretch")
                added[rethrow] = ""
                # a Fail state may not raise States.*: as the parent would name it
                error = "$states.input.Error"
                cause = '($type($states.input.Cause) = "string" ? $states.input.Cause : "")'
                out[rethrow] = {
                    "Type": "Fail",
                    "Error": _js(f'$substring({error}, 0, 7) = "States." ? {_jstr(STRETCH_FAILED_ERROR)} : {error}'),
                    "Cause": _js(f'$substring({error}, 0, 7) = "States." ? {error} & ": " & {cause} : {cause}')}
            catches.append({"ErrorEquals": ["States.ALL"], "Assign": mark, "Next": save(rethrow)})
    delete, check, restore, route, afresh = (
        names.take(n) for n in ("Delete checkpoint", "Checkpoint of this entry?", "Restore checkpoint",
                                "Resume at", "Start express stretch afresh"))
    for name in (read, delete, check, restore, route, afresh):
        added[name] = ""
    # without a checkpoint: on at the entry, with the entry's input (from the context object:
    # each state's data stays the checkpoint alone) and the variables the stretch was given
    out[afresh] = {"Type": "Pass", "Assign": {_REDRIVE: 0},
                   "Output": _js("$states.context.Execution.Input.input"), "Next": entry}
    failed_over = {"ErrorEquals": ["States.ALL"], "Next": afresh}
    out[read] = {"Type": "Task", "Resource": _S3 + "getObject",
                 "Arguments": {"Bucket": PAYLOAD_BUCKET, "Key": key("$" + EXECUTION_VAR)},
                 "Output": _js("$parse($states.result.Body)"), "Next": delete, "Catch": [failed_over]}
    out[delete] = {"Type": "Task", "Resource": _S3 + "deleteObject",
                   "Arguments": {"Bucket": PAYLOAD_BUCKET, "Key": key("$" + EXECUTION_VAR)},
                   "Output": _js("$states.input"), "Next": check, "Catch": [failed_over]}
    same = ('($e := $states.context.Execution.Input.entry; $c := $states.input; '
            '$type($c) = "object" and $c.at in ' + json.dumps(resumable, ensure_ascii=False)
            + ' and ($exists($c.entry) ? $c.entry : null) = ($exists($e) ? $e : null))')
    out[check] = {"Type": "Choice", "Choices": [{"Condition": _js(same), "Next": restore}],
                  "Default": afresh}
    out[restore] = {"Type": "Pass",
                    "Assign": {**{v: _js(_or_null(f"$states.input.vars.{v}")) for v in every},
                               _AT: _js("$states.input.at"), _REDRIVE: 0},
                    "Output": _js(_or_null("$states.input.input")), "Next": route}
    if len(resumable) == 1:  # a Choice needs a rule
        out[restore]["Next"] = resumable[0]
        del out[route], added[route]
    else:
        out[route] = {"Type": "Choice",
                      "Choices": [{"Condition": _js(f"${_AT} = {_jstr(n)}"), "Next": n} for n in resumable[:-1]],
                      "Default": resumable[-1]}


def _rewrite_execution(state: dict[str, Any]) -> dict[str, Any]:
    """``$states.context.Execution.Id`` -> the parent's (a variable set on entry)."""
    text = json.dumps(state, ensure_ascii=False)
    if _EXECUTION_ID not in text:
        return state
    rewritten: dict[str, Any] = json.loads(text.replace(_EXECUTION_ID, "$" + EXECUTION_VAR))
    return rewritten


def _ancestors(states: dict[str, Any], goal: str) -> set[str]:
    """The states from which ``goal`` can be reached (``goal`` itself only on a cycle)."""
    preds: dict[str, set[str]] = {}
    for name, state in states.items():
        for target in _targets(state):
            preds.setdefault(target, set()).add(name)
    seen: set[str] = set()
    todo = [goal]
    while todo:
        for pred in preds.get(todo.pop(), ()):
            if pred not in seen:
                seen.add(pred)
                todo.append(pred)
    return seen


def _drop_unreachable(states: dict[str, Any], start: str) -> None:
    seen, todo = {start}, [start]
    while todo:
        for target in _targets(states[todo.pop()]):
            if target in states and target not in seen:
                seen.add(target)
                todo.append(target)
    for name in [n for n in states if n not in seen]:
        del states[name]


# -- on a compiled workflow ---------------------------------------------------------------

def _works(graph: Graph, container: str, state_map: dict[str, tuple[str, str]],
           states: dict[str, Any]) -> bool:
    """Whether a block inside ``container`` (at any depth) runs as a Task, Map or Parallel
    (does work that takes time), by the top-level states: a loop's body is on its cycle,
    a parallel's inside its Map state."""
    inside = {n for n in graph.blocks if container in graph.ancestors_containers(n)}
    for name, state in states.items():
        node = state_map.get(name, (None, ""))[0]
        if node in inside and state.get("Type") in RESUMABLE_TYPES:
            return True
        if node == container and state.get("Type") == "Map" and seconds(state) > 0:
            return True
    return False


def split_compiled(compiled: CompiledWorkflow, graph: Graph, file: str,
                   wanted: bool | None = None) -> CompiledWorkflow:
    """``compiled`` with its Express stretches split off, when its file asks for it
    (``split: auto``; ``wanted`` overrides the file), it is Standard and a stretch lowers
    its cost; else ``compiled`` unchanged. Every definition is checked as AWS checks it."""
    if wanted is None:
        wanted = graph.workflow.split == "auto"
    if not wanted or compiled.workflow_type != "STANDARD":
        return compiled
    # loops without a fixed bound, and containers over a collection known at run time only
    # whose blocks do work: how long they take has no bound a stretch could keep to
    states = compiled.definition["States"]
    unbounded = {state for state, (node, _role) in compiled.state_map.items()
                 if node in graph.types and graph.types[node].name in ("loop", "parallel")
                 and (graph.blocks[node].params.get("loopType") in ("while", "doWhile")
                      or (iterations(graph, node) is None and _works(graph, node, compiled.state_map, states)))}
    split = split_definition(compiled.definition, unbounded, compiled.name)
    if split is None:
        return compiled
    problems: list[Problem] = []
    fields = jsonata_fields()
    stretches: dict[str, CompiledWorkflow] = {}
    for stretch in split.stretches:
        text = json.dumps(stretch.definition)
        held = set(stretch.states)
        stretches[stretch.ref] = replace(
            compiled, name=f"{compiled.name}-express-{stretch.ref[1:]}", definition=stretch.definition,
            workflow_type="EXPRESS",
            handlers=tuple(h for h in compiled.handlers if "${Handler_" + h + "}" in text),
            state_map={s: e for s, e in compiled.state_map.items() if s in held},
            children={}, triggers=(), warnings=(), notify_tools=(), stretches={}, split_states={})
    for definition in [split.definition, *(s.definition for s in split.stretches)]:
        def report(state: str, message: str) -> None:
            block = compiled.state_map.get(state, (None, ""))[0]
            problems.append(Problem(file, "the compiled definition is not valid for Step "
                                          f"Functions: {message}", block))
        check_definition(definition, report, fields)
    if problems:
        raise WorkflowError(sorted(set(problems)))
    # the history limit applies to the parent alone: Express stretches keep no history
    others = tuple(w for w in compiled.warnings if "history events" not in w.message)
    warnings = others + tuple(Problem(file, message, block) for block, message in
                              history_warnings(graph, "STANDARD", split.definition, compiled.state_map))
    return replace(compiled, definition=split.definition, stretches=stretches,
                   split_states=dict(split.added), warnings=warnings)
