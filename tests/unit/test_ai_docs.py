"""docs/ai-blocks.md covers every AI param, tool, error class and provider."""

from __future__ import annotations

from pathlib import Path

from stepweave.params.model import ModelParams
from stepweave.ai.providers import PROVIDERS
from stepweave.params.agent import AgentParams
from stepweave.params.evaluator import EvaluatorParams
from stepweave.params.router import RouterParams
from stepweave.tools import TOOLS

DOCS = Path(__file__).resolve().parents[2] / "docs"
TEXT = (DOCS / "ai-blocks.md").read_text()
#: the integrations' operations are agent tools too; their catalogue documents them
CATALOGUE = (DOCS / "integrations.md").read_text()


def test_every_param_tool_error_and_provider_is_documented() -> None:
    params = set(AgentParams.model_fields) | set(RouterParams.model_fields) | set(
        EvaluatorParams.model_fields) | set(ModelParams.model_fields)
    assert [p for p in sorted(params) if f"`{p}`" not in TEXT] == []
    assert [t for t in TOOLS if f"| `{t}` |" not in TEXT and f"| `{t}` |" not in CATALOGUE] == []
    for name in ("ProviderAuthError", "ProviderRateLimited", "ProviderBadRequest",
                 "ProviderUnavailable", "RouterNoMatch"):
        assert f"`{name}`" in TEXT
    assert [p for p in PROVIDERS if f"`{p}`" not in TEXT] == []
