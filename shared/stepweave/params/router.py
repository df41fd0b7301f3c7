"""The ``router`` block's contract (Sim's ``router_v2``): a model picks one route for the context.

Params: ``context`` (the text to route; Sim's legacy ``prompt`` is accepted too),
``routes`` (``[{id, title, value}]``, ``value`` describing when to take it; Sim stores it as
JSON text, accepted as well) and the model settings. Output: ``selectedRoute`` (the route
id), ``reasoning``, ``selectedPath`` (``{routeId, title}``), ``context``, ``model``,
``provider``, ``tokens``, ``cost``, ``providerTiming``. Edges ``router-<routeId>`` leave from
the chosen route. No matching route fails the block with ``RouterNoMatch``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepweave.params.model import ModelParams, json_list

__all__ = ["RouterParams", "Route", "SIM_ROUTER_PARAMS"]

SIM_ROUTER_PARAMS = ("context", "prompt", "routes", "model", "temperature", "apiKey",
                     "maxTokens", "bedrockRegion")


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    title: str = ""
    value: str = Field(default="", description="when to take this route")


class RouterParams(ModelParams):
    context: Any = ""
    prompt: Any = None
    routes: list[Route] | str = Field(default_factory=list)

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: Any) -> Any:
        return json_list(value)

    @model_validator(mode="after")
    def _unique(self) -> RouterParams:
        if isinstance(self.routes, list):
            if not self.routes:
                raise ValueError("a router needs at least one route")
            ids = [r.id for r in self.routes]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"route ids must be unique: {', '.join(duplicates)}")
            if "NO_MATCH" in ids:
                raise ValueError("'NO_MATCH' is reserved and cannot be a route id")
        return self
