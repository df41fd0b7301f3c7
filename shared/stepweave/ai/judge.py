"""Router and evaluator: a model's structured decision about some text.

Router: the model answers ``{route, reasoning}`` with ``route`` one of the route ids or
``NO_MATCH``; ``NO_MATCH`` or an unknown id raises ``RouterNoMatch`` (Sim: "Router could
not determine a matching route"). Evaluator: the model answers one number per metric
(lowercased name); scores are clamped into the metric's range, a missing or non-numeric
score is null.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stepweave.ai.agent import parse_json_answer
from stepweave.ai.session import Deps, Session, parse_params, sampling
from stepweave.ai.types import ChatRequest, Message
from stepweave.params.evaluator import EvaluatorParams, Metric
from stepweave.params.router import Route, RouterParams
from stepweave.errors import BlockInputError, RouterNoMatch

__all__ = ["run_router", "run_evaluator", "NO_MATCH"]

NO_MATCH = "NO_MATCH"

_ROUTER_SYSTEM = (
    "You route a request to exactly one of the routes below. Read the context and choose "
    "the route whose description fits best. If none fits, answer the route NO_MATCH.\n\n"
    "Routes:\n{routes}\n\nAnswer with JSON: {{\"route\": <route id or NO_MATCH>, "
    "\"reasoning\": <one short sentence>}}.")
_EVALUATOR_SYSTEM = (
    "You evaluate content on the metrics below. Give each metric a number within its range, "
    "judging only the content.\n\nMetrics:\n{metrics}\n\nAnswer with JSON: one key per "
    "metric (the key shown), each a number.")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _rows(value: Any, model: type[RouterParams] | type[EvaluatorParams], field: str,
          block: str) -> Any:
    if isinstance(value, str):  # a reference that resolved to JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise BlockInputError(f"{block} block: '{field}' is not a JSON list") from None
        checked = parse_params(model, {"model": "local", field: value}, block)
        return getattr(checked, field)
    return value


def run_router(raw: Mapping[str, Any], *, secrets: Mapping[str, str],
               deps: Deps | None = None) -> dict[str, Any]:
    deps = deps or Deps()
    params = parse_params(RouterParams, raw, "router")
    routes: list[Route] = _rows(params.routes, RouterParams, "routes", "router")
    context = _text(params.context if params.context not in (None, "") else params.prompt or "")
    temperature, max_tokens = sampling(params)
    session = Session(params, secrets, deps)
    listing = "\n".join(f"- {r.id}: {r.title}. {r.value}".rstrip(". ") for r in routes)
    schema = {"type": "object", "properties": {
        "route": {"type": "string", "enum": [r.id for r in routes] + [NO_MATCH]},
        "reasoning": {"type": "string"}}, "required": ["route", "reasoning"],
        "additionalProperties": False}
    request = ChatRequest(
        model=session.model, system=_ROUTER_SYSTEM.format(routes=listing),
        messages=(Message(role="user", content=context or "(empty)"),),
        temperature=temperature if temperature is not None else 0.0, max_tokens=max_tokens,
        response_schema=schema, schema_name="route_choice",
        local_hints={"routes": [r.model_dump() for r in routes]})
    response = session.complete(request)
    answer = parse_json_answer(response.content) or {}
    chosen = str(answer.get("route") or NO_MATCH).strip()
    by_id = {r.id: r for r in routes}
    if chosen not in by_id:
        raise RouterNoMatch(f"Router could not determine a matching route for the context "
                            f"(the model answered {chosen[:80]!r})")
    route = by_id[chosen]
    return {"context": context, **session.outputs(), "selectedRoute": route.id,
            "reasoning": str(answer.get("reasoning") or ""),
            "selectedPath": {"routeId": route.id, "title": route.title}}


def run_evaluator(raw: Mapping[str, Any], *, secrets: Mapping[str, str],
                  deps: Deps | None = None) -> dict[str, Any]:
    deps = deps or Deps()
    params = parse_params(EvaluatorParams, raw, "evaluator")
    metrics: list[Metric] = _rows(params.metrics, EvaluatorParams, "metrics", "evaluator")
    content = _text(params.content)
    temperature, max_tokens = sampling(params)
    session = Session(params, secrets, deps)
    listing = "\n".join(f"- {m.field}: {m.description or m.name} (from {m.range.min:g} to "
                        f"{m.range.max:g})" for m in metrics)
    schema = {"type": "object", "properties": {
        m.field: {"type": "number", "minimum": m.range.min, "maximum": m.range.max}
        for m in metrics}, "required": [m.field for m in metrics], "additionalProperties": False}
    hints = [{"field": m.field, "name": m.name, "description": m.description,
              "min": m.range.min, "max": m.range.max} for m in metrics]
    request = ChatRequest(
        model=session.model, system=_EVALUATOR_SYSTEM.format(metrics=listing),
        messages=(Message(role="user", content=content or "(empty)"),),
        temperature=temperature if temperature is not None else 0.0, max_tokens=max_tokens,
        response_schema=schema, schema_name="evaluation", local_hints={"metrics": hints})
    response = session.complete(request)
    answer = parse_json_answer(response.content) or {}
    scores = {m.field: _score(answer.get(m.field), m) for m in metrics}
    return {"content": content, **session.outputs(), **scores}


def _score(value: Any, metric: Metric) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    number = max(metric.range.min, min(metric.range.max, number))
    return int(number) if number.is_integer() else number
