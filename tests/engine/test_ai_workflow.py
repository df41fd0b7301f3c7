"""AI blocks on the embedded engine with the offline ``local`` model: an agent's structured
output read downstream, a router's route taken (or its error edge), and the example
workflow workflows/support-triage.yaml posting to the Slack outbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stepweave.runtime.history import block_runs

from tests.engine.helpers import compile_text, run_text

pytestmark = pytest.mark.usefixtures("engine")
ROOT = Path(__file__).resolve().parents[2]

AGENT_THEN_FUNCTION = """
name: ai-chain
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: text, type: string}]}}
  - id: classify
    name: Classify
    type: agent
    params:
      model: local
      messages: [{role: user, content: "<start.text>"}]
      responseFormat:
        type: object
        properties:
          label: {type: string, enum: [spam, ham]}
          score: {type: integer, minimum: 3}
  - id: use
    name: Use
    type: function
    params: {code: "return {label: <classify.label>, score: <classify.score>, by: <classify.provider>, tokens: <classify.tokens.total> > 0}"}
edges:
  - {source: start, target: classify}
  - {source: classify, target: use}
"""

ROUTER_WITH_ERROR_EDGE = """
name: ai-router
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: text, type: string}]}}
  - id: route
    name: Route
    type: router
    params:
      model: local
      context: "<start.text>"
      routes:
        - {id: refund, title: Refund, value: "refund money back"}
        - {id: shipping, title: Shipping, value: "delivery parcel tracking"}
  - {id: refund, name: Refund, type: function, params: {code: "return 'refund'"}}
  - {id: shipping, name: Shipping, type: function, params: {code: "return 'shipping'"}}
  - {id: unrouted, name: Unrouted, type: function, params: {code: "return <route.error>"}}
edges:
  - {source: start, target: route}
  - {source: route, target: refund, sourceHandle: router-refund}
  - {source: route, target: shipping, sourceHandle: router-shipping}
  - {source: route, target: unrouted, sourceHandle: error}
"""


def test_agent_output_is_referenced_downstream(engine: Any) -> None:
    result, ran = run_text(engine, AGENT_THEN_FUNCTION, {"text": "this is spam, clearly"})
    assert result.status == "SUCCEEDED", result.cause
    assert ran[-2:] == ["Classify", "Use"]
    assert result.output["result"] == {"label": "spam", "score": 3, "by": "local", "tokens": True}


@pytest.mark.parametrize(("text", "block", "expected"), [
    ("I want my money back, refund please", "Refund", "refund"),
    ("Where is my parcel? no tracking", "Shipping", "shipping")])
def test_router_route_is_taken(engine: Any, text: str, block: str, expected: str) -> None:
    result, ran = run_text(engine, ROUTER_WITH_ERROR_EDGE, {"text": text})
    assert result.status == "SUCCEEDED", result.cause
    assert block in ran and "Unrouted" not in ran
    assert result.output["result"] == expected


def test_router_no_match_takes_the_error_edge(engine: Any) -> None:
    result, ran = run_text(engine, ROUTER_WITH_ERROR_EDGE, {"text": "lovely weather today"})
    assert result.status == "SUCCEEDED", result.cause
    assert "Unrouted" in ran and "Refund" not in ran and "Shipping" not in ran
    assert "could not determine a matching route" in result.output["result"]


@pytest.mark.parametrize(("message", "block", "channel"), [
    ("Billing: I was charged twice on my last invoice, urgent", "Notify billing", "#billing"),
    ("The export button shows a bug and crashes the page", "Notify engineering", "#engineering"),
    ("Do you have a newsletter?", "Notify support", "#support")])
def test_support_triage_example_posts_to_the_teams_slack_outbox(
        engine: Any, monkeypatch: pytest.MonkeyPatch, message: str, block: str,
        channel: str) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    compiled = compile_text((ROOT / "workflows" / "support-triage.yaml").read_text())
    result = engine.run(compiled, {"message": message, "customer": "Ada"})
    assert result.status == "SUCCEEDED", result.cause
    ran = [r.name for r in block_runs(result.events, compiled.manifest())]
    assert ran[-3:] == ["Triage", "Route", block]
    [call] = result.output["toolCalls"]["list"]
    assert call["name"] == "post_ticket" and call["result"]["delivery"] == "outbox"
    posted = json.loads(Path(call["result"]["outboxFile"]).read_text())
    assert posted["channel"] == channel and "Ada" in posted["text"]
    if channel == "#billing":
        assert posted["text"].startswith("[urgent] Ada: Billing: I was charged twice")
