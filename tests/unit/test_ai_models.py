"""Model id -> provider mapping, the price table and the local model's determinism."""

from __future__ import annotations

import pytest

from stepweave.ai.local import pick_route, synthesize
from stepweave.ai.pricing import cost_of, price_of, pricing_table
from stepweave.ai.providers import api_model_id, provider_for
from stepweave.ai.types import Usage
from stepweave.errors import BlockInputError


@pytest.mark.parametrize(("model", "base_url", "provider"), [
    ("gpt-4o", None, "openai"), ("o3-mini", None, "openai"), ("openai/gpt-4.1", None, "openai"),
    ("claude-sonnet-4-5", None, "anthropic"), ("anthropic/claude-3-5-haiku", None, "anthropic"),
    ("anthropic.claude-3-haiku-20240307-v1:0", None, "bedrock"),
    ("us.amazon.nova-lite-v1:0", None, "bedrock"), ("bedrock/meta.llama3", None, "bedrock"),
    ("llama3.1", "http://127.0.0.1:11434/v1", "openai-compatible"),
    ("local", None, "local"), ("local/echo", None, "local"),
    # the models Sim's templates name: Gemini and Grok through their OpenAI-compatible APIs
    ("gemini-2.5-pro", None, "gemini"), ("gemini/gemini-2.5-flash", None, "gemini"),
    ("gemini-2.5-pro", "http://127.0.0.1:9/v1", "gemini"), ("grok-4", None, "xai"),
    ("xai/grok-4", None, "xai")])
def test_provider_mapping(model: str, base_url: str | None, provider: str) -> None:
    assert provider_for(model, None, base_url) == provider


def test_override_and_unknown_models() -> None:
    assert provider_for("gpt-4o", "openai-compatible") == "openai-compatible"
    assert api_model_id("bedrock/anthropic.claude-3-haiku", "bedrock") == "anthropic.claude-3-haiku"
    with pytest.raises(BlockInputError, match="no provider is known for model 'mystery'"):
        provider_for("mystery")
    with pytest.raises(BlockInputError, match="must be one of"):
        provider_for("gpt-4o", "azure")


def test_price_table_has_a_date_and_matches_the_longest_prefix() -> None:
    assert pricing_table()["updated"] and pricing_table()["unit"] == "per 1M tokens"
    assert price_of("gpt-4o-mini-2024-07-18") == {"input": 0.15, "output": 0.6}
    assert price_of("gpt-4o-2024-08-06") == {"input": 2.5, "output": 10.0}
    assert price_of("us.anthropic.claude-3-haiku-20240307-v1:0") == {"input": 0.25, "output": 1.25}
    assert price_of("llama3.1") is None
    cost = cost_of("gpt-4o", Usage(1_000_000, 100_000))
    assert (cost["input"], cost["output"], cost["total"]) == (2.5, 1.0, 3.5)


def test_local_model_is_deterministic() -> None:
    schema = {"type": "object", "required": ["level"], "properties": {
        "level": {"type": "string", "enum": ["low", "high"]}, "note": {"type": "string"},
        "n": {"type": "number", "minimum": 2}, "tags": {"type": "array"}}}
    assert synthesize(schema, "this is HIGH priority") == {"level": "high", "note": "local note",
                                                           "n": 2.0, "tags": []}
    assert synthesize(schema, "x", required_only=True) == {"level": "low"}
    routes = [{"id": "a", "title": "Alpha", "value": "apples"},
              {"id": "z", "title": "Fallback", "value": "otherwise"}]
    assert pick_route("green apples", routes)[0] == "a"
    assert pick_route("nothing in common", routes)[0] == "z"
    assert pick_route("nothing in common", routes[:1])[0] == "NO_MATCH"


def test_gemini_and_xai_use_their_own_endpoints_and_keys() -> None:
    from stepweave.ai.providers import ProviderOptions, build_provider
    from stepweave.errors import ProviderAuthError

    gemini = build_provider("gemini", ProviderOptions(), {"GEMINI_API_KEY": "g-key"})
    assert gemini.settings.base_url == "https://generativelanguage.googleapis.com/v1beta/openai"  # type: ignore[attr-defined]
    xai = build_provider("xai", ProviderOptions(base_url="http://127.0.0.1:9/v1"),
                         {"XAI_API_KEY": "x-key"})
    assert xai.settings.base_url == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert api_model_id("gemini/gemini-2.5-flash", "gemini") == "gemini-2.5-flash"
    with pytest.raises(ProviderAuthError, match="GEMINI_API_KEY"):
        build_provider("gemini", ProviderOptions(), {})
