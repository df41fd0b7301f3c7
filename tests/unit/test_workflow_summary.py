"""Block summaries (``stepweave.workflow.summary``): what ``stepweave diff`` compares, and
what a deployed definition carries."""

from __future__ import annotations

from typing import Any

from stepweave.workflow.loader import parse_workflow
from stepweave.workflow.summary import compare, decode, encode, summarize

BASE: dict[str, Any] = {
    "version": 1, "name": "flow",
    "variables": [{"name": "limit", "type": "number", "value": 10}],
    "blocks": [{"id": "start", "type": "start"},
               {"id": "call", "type": "api", "name": "Call", "params": {"url": "https://a.example", "method": "GET"}}],
    "edges": ["start -> call"],
}


def _summary(**changes: Any) -> dict[str, Any]:
    data = {**BASE, **changes}
    return summarize(parse_workflow(data, "flow.yaml"))


def _lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c.line() for c in compare(old, new).changes]


def test_the_summary_survives_a_definition_comment() -> None:
    summary = _summary()
    comment = f"Stepweave workflow flow {encode(summary)}"
    assert "$" not in comment and '"' not in comment
    assert decode(comment) == summary
    assert decode("Stepweave workflow flow") is None
    assert decode("Stepweave workflow flow stepweave-summary:!!not-base64") is None


def test_settings_variables_and_params_are_told_apart() -> None:
    old = _summary()
    blocks = [BASE["blocks"][0], {**BASE["blocks"][1], "enabled": False,
                                   "params": {"url": "https://b.example", "method": "GET", "body": "x"}}]
    new = _summary(blocks=blocks, variables=[{"name": "limit", "type": "number", "value": 20}])
    assert _lines(old, new) == [
        "~ block call (Call): param body added; param url changed; settings changed "
        "(enabled, retry, parent or timeout)",
        "~ variable limit",
    ]
    assert compare(old, _summary()).changes == []
