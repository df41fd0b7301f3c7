"""The offline ``local`` model: deterministic, no network, no key, clearly labelled.

It is a stand-in so that workflows run on a fresh machine, not a judgement:

* text: the last user message, echoed;
* tools offered and none answered yet: it calls each offered tool once, filling only the
  *required* arguments from the tool's schema (see below); then it answers with a summary
  of the tool results;
* structured output: an object matching the schema. ``enum`` values are picked when they
  appear in the user text (else the first); strings named like ``summary``, ``text``,
  ``message``, ``content``, ``reply`` or ``answer`` take the user text (first 280
  characters), other strings ``"local <name>"``; numbers take their minimum (or 0);
  booleans false; arrays empty;
* routers (``local_hints["routes"]``): the route sharing the most words with the context;
  with none shared, a route whose title or description says other / otherwise / default /
  fallback / else, else ``NO_MATCH``;
* evaluators (``local_hints["metrics"]``): each score is ``min + (max - min) * share``,
  ``share`` being the fraction of the metric's name and description words found in the
  content (integers when the range bounds are).

Token counts are ~4 characters per token; the cost is zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from stepweave.ai.types import ChatRequest, ChatResponse, ToolCall, Usage

__all__ = ["LocalProvider", "synthesize", "pick_route", "score_metrics", "LOCAL_MODEL"]

LOCAL_MODEL = "local"
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("the and for with that this from are was were have has not but you your our "
                  "its into about when what which who how any all can will should would".split())
_TEXT_FIELDS = ("summary", "text", "message", "content", "reply", "answer", "body")
_FALLBACK = frozenset({"other", "others", "otherwise", "default", "fallback", "else"})


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in _STOP}


class LocalProvider:
    name = "local"

    def complete(self, request: ChatRequest) -> ChatResponse:
        text = request.last_user_text()
        answered = any(m.role == "tool" for m in request.messages)
        calls: tuple[ToolCall, ...] = ()
        hints = request.local_hints
        if request.tools and not answered and request.tool_choice != "none":
            calls = tuple(ToolCall(id=f"local-call-{i + 1}", name=t.name,
                                   arguments=synthesize(t.parameters, text, required_only=True))
                          for i, t in enumerate(request.tools))
            content = ""
        elif "routes" in hints:
            route, reason = pick_route(text, hints["routes"])
            content = json.dumps({"route": route, "reasoning": reason})
        elif "metrics" in hints:
            content = json.dumps(score_metrics(text, hints["metrics"]))
        elif request.response_schema is not None:
            content = json.dumps(synthesize(request.response_schema, text))
        elif answered:
            results = [m.content for m in request.messages if m.role == "tool"]
            content = f"Done: {len(results)} tool call(s) made. " + " ".join(results)[:500]
        else:
            content = text
        prompt = sum(len(m.content) for m in request.messages) + len(request.system)
        return ChatResponse(content=content, tool_calls=calls,
                            usage=Usage(max(1, prompt // 4), max(1, len(content) // 4)),
                            model=LOCAL_MODEL, stop_reason="tool_use" if calls else "end_turn")


def synthesize(schema: Mapping[str, Any], text: str, name: str = "",
               required_only: bool = False) -> Any:
    """A value matching ``schema``, derived from ``text`` (see the module docstring)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if "enum" in schema and schema["enum"]:
        return _pick_enum(list(schema["enum"]), text)
    if "const" in schema:
        return schema["const"]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        keys = list(props)
        if required_only:
            keys = [k for k in keys if k in (schema.get("required") or [])]
        return {k: synthesize(props[k], text, k) for k in keys if isinstance(props[k], dict)}
    if kind == "array":
        return []
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return False
    if name.lower() in _TEXT_FIELDS:
        return text[:280]
    return f"local {name}".strip()


def _pick_enum(values: list[Any], text: str) -> Any:
    words = _WORD.findall(text.lower())
    for value in values:
        needle = str(value).lower()
        if any(w == needle or (len(needle) >= 4 and (needle in w or (len(w) >= 4 and w in needle)))
               for w in words):
            return value
    return values[0]


def pick_route(text: str, routes: list[Mapping[str, Any]]) -> tuple[str, str]:
    """The route id sharing the most words with ``text`` (see the module docstring)."""
    words = _words(text)
    best, best_score = None, 0
    for route in routes:
        score = len(words & _words(f"{route.get('title', '')} {route.get('value', '')}"))
        if score > best_score:
            best, best_score = route, score
    if best is not None:
        return str(best["id"]), f"local model: {best_score} word(s) in common with the route"
    for route in routes:
        if _words(f"{route.get('title', '')} {route.get('value', '')}") & _FALLBACK:
            return str(route["id"]), "local model: no route matched; took the fallback route"
    return "NO_MATCH", "local model: no route shares a word with the context"


def score_metrics(text: str, metrics: list[Mapping[str, Any]]) -> dict[str, float | int]:
    words = _words(text)
    scores: dict[str, float | int] = {}
    for metric in metrics:
        wanted = _words(f"{metric.get('name', '')} {metric.get('description', '')}")
        low, high = float(metric.get("min", 0)), float(metric.get("max", 10))
        share = len(words & wanted) / len(wanted) if wanted else 0.0
        value = low + (high - low) * share
        integral = low.is_integer() and high.is_integer()
        scores[str(metric["field"])] = int(round(value)) if integral else round(value, 2)
    return scores
