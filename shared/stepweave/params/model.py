"""Parameters shared by the AI blocks (agent, router, evaluator): which model, which
key, how long to wait. Pydantic models used by the block catalog at validation time.

Numbers may also be references (``"<start.temperature>"``): the state machine resolves
them to text, and the handler converts them (``number_param``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from stepweave.refs import SECRET_PLACEHOLDER

__all__ = ["ModelParams", "Number", "number_param", "json_list", "DEFAULT_TIMEOUT_MS",
           "MAX_TIMEOUT_MS", "DEFAULT_RETRIES", "MAX_RETRIES"]

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 840_000
DEFAULT_RETRIES = 2
MAX_RETRIES = 8

#: The bounds of the numeric model settings.
_RANGES: dict[str, tuple[float, float]] = {"temperature": (0, 2), "maxTokens": (1, 1_000_000)}
#: A number, or a reference resolved to text at run time.
Number = float | int | str | None


def number_param(value: object, name: str, low: float, high: float) -> float | None:
    """A numeric param (numbers or numeric text) within ``[low, high]``; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        raise ValueError(f"'{name}' must be a number from {low:g} to {high:g}")
    return number


def json_list(value: Any) -> Any:
    """Sim stores some tables as JSON text (router routes, evaluator metrics): parse them.

    A reference (``<block.path>``) is kept as text and checked by the handler."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError("is not valid JSON") from None
        if text == "":
            return []
    return value


class ModelParams(BaseModel):
    """Which model answers, with which key, how long to wait and how often to retry."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: str = Field(min_length=1, description="model id, e.g. gpt-4o, claude-sonnet-4-5, "
                       "anthropic.claude-3-haiku-20240307-v1:0, llama3.1 (with baseUrl), local")
    provider: str | None = Field(default=None, description="overrides the provider the model "
                                 "id maps to: openai, anthropic, bedrock, openai-compatible, local")
    baseUrl: str | None = Field(default=None, description="an OpenAI-compatible endpoint "
                                "(Ollama, vLLM, Groq, Together...)")
    apiKey: str | None = Field(default=None, description="a {{SECRET_NAME}} placeholder")
    temperature: Number = None
    maxTokens: Number = None
    region: str | None = Field(default=None, description="Bedrock's region")
    bedrockRegion: str | None = None
    timeoutMs: int = Field(default=DEFAULT_TIMEOUT_MS, ge=1_000, le=MAX_TIMEOUT_MS)
    retries: int = Field(default=DEFAULT_RETRIES, ge=0, le=MAX_RETRIES)

    @field_validator("apiKey")
    @classmethod
    def _api_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        # in the workflow: a placeholder; in a handler, the key the handler put in for it
        if isinstance(info.context, dict) and info.context.get("secrets_filled"):
            return value
        if value is not None and value.strip() and not SECRET_PLACEHOLDER.fullmatch(value.strip()):
            raise ValueError("must be a {{SECRET_NAME}} placeholder (the key itself never goes "
                             "into a workflow)")
        return value

    @field_validator("temperature", "maxTokens")
    @classmethod
    def _in_range(cls, value: Number, info: ValidationInfo) -> Number:
        if isinstance(value, str) and "<" in value:
            return value  # a reference: checked by the handler once resolved
        number_param(value, str(info.field_name), *_RANGES[str(info.field_name)])
        return value
