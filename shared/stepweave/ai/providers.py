"""Which provider serves a model id, and building it with its key and settings.

| model id | provider |
|---|---|
| ``local``, ``local/...`` | ``local`` (offline, deterministic) |
| ``bedrock/...``, or a Bedrock id (``anthropic.``, ``amazon.``, ``meta.``, ``mistral.``, ``cohere.``, ``ai21.``, ``deepseek.``, ``writer.``, with an optional ``us.``/``eu.``/``apac.``/``global.`` inference-profile prefix) | ``bedrock`` |
| ``claude-...``, ``anthropic/...`` | ``anthropic`` |
| ``gpt-...``, ``o1``/``o3``/``o4...``, ``chatgpt-...``, ``openai/...`` | ``openai`` |
| ``gemini-...``, ``gemini/...`` | ``gemini`` (Google's OpenAI-compatible endpoint) |
| ``grok-...``, ``xai/...`` | ``xai`` (xAI's OpenAI-compatible API) |
| anything else with ``baseUrl`` | ``openai-compatible`` |

``provider`` overrides the mapping; a ``provider/`` prefix is removed before the id is sent.
Keys: ``apiKey: "{{NAME}}"`` names a secret (the handler's entry puts its value in);
without it the deployment's default secret (``DEFAULT_KEY_SECRETS``) is used. Bedrock uses the function's IAM role, local nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepweave.ai.types import Provider
from stepweave.errors import BlockInputError, ProviderAuthError
from stepweave.refs import SECRET_PLACEHOLDER
from stepweave.tools.transport import RetryPolicy

if TYPE_CHECKING:
    import httpx

__all__ = ["PROVIDERS", "DEFAULT_KEY_SECRETS", "COMPATIBLE_BASE_URLS", "provider_for", "build_provider",
           "ProviderOptions",
           "api_model_id"]

PROVIDERS = ("openai", "anthropic", "bedrock", "openai-compatible", "gemini", "xai", "local")
#: The secret each provider reads when a workflow names none.
DEFAULT_KEY_SECRETS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
                       "openai-compatible": "OPENAI_COMPATIBLE_API_KEY",
                       "gemini": "GEMINI_API_KEY", "xai": "XAI_API_KEY"}
#: OpenAI-compatible providers with an endpoint of their own (``baseUrl`` overrides it)
COMPATIBLE_BASE_URLS = {"gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
                        "xai": "https://api.x.ai/v1"}
_PREFIXES = ("bedrock", "anthropic", "openai", "gemini", "xai")
_BEDROCK = re.compile(r"^((us|eu|apac|global|us-gov)\.)?(anthropic|amazon|meta|mistral|cohere|ai21|"
                      r"deepseek|writer|qwen|openai)\.")
_OPENAI = re.compile(r"^(gpt-|o[134]\b|o[134]-|chatgpt-|text-|davinci|babbage)")


def provider_for(model: str, override: str | None = None, base_url: str | None = None) -> str:
    """The provider serving ``model`` (see the module table)."""
    if override:
        if override not in PROVIDERS:
            raise BlockInputError(f"'provider' must be one of {', '.join(PROVIDERS)}, "
                                  f"got {override!r}")
        return override
    lowered = model.strip().lower()
    prefix = lowered.split("/", 1)[0] if "/" in lowered else ""
    if lowered == "local" or prefix == "local":
        return "local"
    if prefix in _PREFIXES:
        return prefix
    if _BEDROCK.match(lowered):
        return "bedrock"
    if lowered.startswith("claude"):
        return "anthropic"
    if _OPENAI.match(lowered):
        return "openai"
    if lowered.startswith("gemini-"):
        return "gemini"
    if lowered.startswith("grok-"):
        return "xai"
    if base_url:
        return "openai-compatible"
    raise BlockInputError(f"no provider is known for model {model!r}: set 'provider' "
                          f"({', '.join(PROVIDERS)}) or 'baseUrl' for an OpenAI-compatible server")


def api_model_id(model: str, provider: str) -> str:
    """The id sent to the provider (``openai/gpt-4o`` -> ``gpt-4o``)."""
    head, _, rest = model.strip().partition("/")
    return rest if rest and head.lower() in _PREFIXES else model.strip()


@dataclass(frozen=True)
class ProviderOptions:
    """How to reach a provider; tests pass transports, a Bedrock client and a no-op sleep."""

    base_url: str | None = None
    api_key_param: str | None = None
    region: str | None = None
    policy: RetryPolicy = RetryPolicy()
    transport: httpx.BaseTransport | None = None
    bedrock: Any = None
    sleep: Callable[[float], None] | None = None


def resolve_key(provider: str, param: str | None, secrets: Mapping[str, str]) -> str | None:
    """The API key: ``apiKey`` as the handler filled it in from the secret the workflow
    names, else the provider's default secret."""
    name: str | None = None
    if param and param.strip():
        match = SECRET_PLACEHOLDER.fullmatch(param.strip())
        if match is None:
            return param.strip()  # the named secret's value
        name = match.group(1)  # still a placeholder: that secret is not set
    else:
        name = DEFAULT_KEY_SECRETS.get(provider)
    if name is None:
        return None
    value = secrets.get(name) if not param else None
    if value:
        return value
    if provider == "openai-compatible" and not param:
        return None  # Ollama and friends need no key
    where = getattr(secrets, "where", None)
    place = where(name) if callable(where) else f"environment variable {name}"
    raise ProviderAuthError(f"{provider}: no API key: the secret '{name}' is not set ({place})")


def build_provider(name: str, options: ProviderOptions, secrets: Mapping[str, str]) -> Provider:
    from stepweave.ai.http_provider import HttpSettings

    if name == "local":
        from stepweave.ai.local import LocalProvider

        return LocalProvider()
    if name == "bedrock":
        from stepweave.ai.bedrock import BedrockProvider, bedrock_client

        client = options.bedrock or bedrock_client(
            options.region, retries=options.policy.retries, timeout_s=options.policy.timeout_s,
            endpoint_url=options.base_url)
        return BedrockProvider(client)
    key = resolve_key(name, options.api_key_param, secrets)
    if name == "anthropic":
        from stepweave.ai.anthropic import ANTHROPIC_BASE_URL, AnthropicProvider

        return AnthropicProvider(HttpSettings(options.base_url or ANTHROPIC_BASE_URL, key,
                                              options.policy, options.transport, options.sleep))
    from stepweave.ai.openai import OPENAI_BASE_URL, OpenAIProvider

    if name == "openai-compatible" and not options.base_url:
        raise BlockInputError("an openai-compatible provider needs 'baseUrl'")
    default_url = COMPATIBLE_BASE_URLS.get(name, OPENAI_BASE_URL)
    return OpenAIProvider(HttpSettings(options.base_url or default_url, key, options.policy,
                                       options.transport, options.sleep), name=name)
