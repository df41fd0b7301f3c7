"""The ``evaluator`` block's contract: a model scores content on declared metrics.

Params: ``content`` (what to score), ``metrics`` (``[{name, description, range: {min,
max}}]``; JSON text accepted as Sim stores it) and the model settings. Output: one field per
metric, named by the metric's lowercased name (Sim), holding its score, plus ``content``,
``model``, ``provider``, ``tokens``, ``cost``, ``providerTiming``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepweave.params.model import ModelParams, json_list

__all__ = ["EvaluatorParams", "Metric", "MetricRange", "metric_fields", "SIM_EVALUATOR_PARAMS"]

SIM_EVALUATOR_PARAMS = ("content", "metrics", "model", "temperature", "apiKey", "maxTokens",
                        "bedrockRegion")


class MetricRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float = 0
    max: float = 10

    @model_validator(mode="after")
    def _ordered(self) -> MetricRange:
        if self.min >= self.max:
            raise ValueError("range.min must be below range.max")
        return self


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    range: MetricRange = Field(default_factory=MetricRange)
    id: str | None = None

    @property
    def field(self) -> str:
        return self.name.strip().lower()


class EvaluatorParams(ModelParams):
    content: Any = ""
    metrics: list[Metric] | str = Field(default_factory=list)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> Any:
        return json_list(value)

    @model_validator(mode="after")
    def _unique(self) -> EvaluatorParams:
        if isinstance(self.metrics, list):
            if not self.metrics:
                raise ValueError("an evaluator needs at least one metric")
            names = [m.field for m in self.metrics]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"metric names must be unique (ignoring case): "
                                 f"{', '.join(duplicates)}")
        return self


def metric_fields(params: Mapping[str, Any]) -> frozenset[str]:
    """The output fields the metrics add (lowercased names), for references."""
    try:
        raw = json_list(params.get("metrics"))
    except ValueError:
        return frozenset()
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(str(m["name"]).strip().lower() for m in raw
                     if isinstance(m, dict) and m.get("name"))
