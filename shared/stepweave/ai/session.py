"""One block's conversation with one provider: params checked, calls timed and counted.

``Session.complete`` makes a model call and records its duration and tokens;
``Session.outputs`` gives the fields every AI block outputs (Sim's): ``model``, ``provider``,
``tokens`` (``prompt``/``completion``/``total``, also as ``input``/``output``), ``cost`` and
``providerTiming`` (``startTime``, ``endTime``, ``duration``, ``modelTime``, ``toolsTime``,
``iterations``, ``timeSegments``; times in ms).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from stepweave.params.model import ModelParams, number_param
from stepweave.ai.pricing import cost_of
from stepweave.ai.providers import ProviderOptions, api_model_id, build_provider, provider_for
from stepweave.tools.transport import RetryPolicy
from stepweave.ai.types import ChatRequest, ChatResponse, Usage
from stepweave.errors import BlockInputError, param_problems

if TYPE_CHECKING:
    import httpx

    from stepweave.runtime.settings import Settings

__all__ = ["Deps", "Session", "parse_params", "sampling", "iso_time"]

P = TypeVar("P", bound=BaseModel)


@dataclass
class Deps:
    """Injectable clients and hooks (tests pass fakes; a handler passes nothing)."""

    transport: httpx.BaseTransport | None = None
    bedrock: Any = None
    clients: dict[str, Any] = field(default_factory=dict)
    settings: Settings | None = None
    sleep: Callable[[float], None] | None = None

    def get_settings(self) -> Settings:
        if self.settings is None:
            from stepweave.runtime.settings import Settings

            self.settings = Settings.from_env()
        return self.settings


def parse_params(model: type[P], raw: Mapping[str, Any], block: str) -> P:
    """The block's params validated; every problem in one ``BlockInputError``."""
    try:
        return model.model_validate(dict(raw), context={"secrets_filled": True})
    except ValidationError as exc:
        raise BlockInputError(f"{block} block: invalid params: {param_problems(exc)}") from None


def sampling(params: ModelParams) -> tuple[float | None, int | None]:
    """``temperature`` and ``maxTokens`` as numbers (they may arrive as resolved text)."""
    try:
        temperature = number_param(params.temperature, "temperature", 0, 2)
        max_tokens = number_param(params.maxTokens, "maxTokens", 1, 1_000_000)
    except ValueError as exc:
        raise BlockInputError(str(exc)) from None
    return temperature, None if max_tokens is None else int(max_tokens)


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class Session:
    def __init__(self, params: ModelParams, secrets: Mapping[str, str], deps: Deps) -> None:
        self.provider_name = provider_for(params.model, params.provider, params.baseUrl)
        self.model = api_model_id(params.model, self.provider_name)
        options = ProviderOptions(
            base_url=params.baseUrl, api_key_param=params.apiKey,
            region=params.region or params.bedrockRegion,
            policy=RetryPolicy(retries=params.retries, timeout_s=params.timeoutMs / 1000),
            transport=deps.transport, bedrock=deps.bedrock, sleep=deps.sleep)
        self.provider = build_provider(self.provider_name, options, secrets)
        self.usage = Usage()
        self.segments: list[dict[str, Any]] = []
        self.started = time.time()
        self.answered_model = ""

    def complete(self, request: ChatRequest) -> ChatResponse:
        began = time.time()
        response = self.provider.complete(request)
        self._segment("model", self.model, began)
        self.usage = self.usage + response.usage
        self.answered_model = response.model or self.answered_model
        return response

    def timed(self, kind: str, name: str, began: float) -> dict[str, Any]:
        return self._segment(kind, name, began)

    def _segment(self, kind: str, name: str, began: float) -> dict[str, Any]:
        ended = time.time()
        segment = {"type": kind, "name": name, "startTime": iso_time(began), "endTime": iso_time(ended),
                   "duration": round((ended - began) * 1000, 1)}
        self.segments.append(segment)
        return segment

    def outputs(self) -> dict[str, Any]:
        ended = time.time()
        model_ms = sum(s["duration"] for s in self.segments if s["type"] == "model")
        tools_ms = sum(s["duration"] for s in self.segments if s["type"] == "tool")
        usage = self.usage
        label = "local" if self.provider_name == "local" else self.model
        return {
            "model": label,
            "provider": self.provider_name,
            "tokens": {"prompt": usage.prompt, "completion": usage.completion,
                       "total": usage.prompt + usage.completion,
                       "input": usage.prompt, "output": usage.completion},
            "cost": cost_of(self.model, usage),
            "providerTiming": {"startTime": iso_time(self.started), "endTime": iso_time(ended),
                               "duration": round((ended - self.started) * 1000, 1),
                               "modelTime": round(model_ms, 1), "toolsTime": round(tools_ms, 1),
                               "iterations": sum(1 for s in self.segments if s["type"] == "model"),
                               "timeSegments": self.segments},
        }
