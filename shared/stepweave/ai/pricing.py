"""Token prices (``pricing.json``, a maintained table with its date) and the cost of a call.

A model id is matched by its longest priced prefix, after removing a ``provider/`` prefix
and a Bedrock inference-profile prefix (``us.``, ``eu.``...). Unpriced models (Ollama,
vLLM...) cost 0 and their ``pricing`` is null.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from stepweave.ai.types import Usage

__all__ = ["price_of", "cost_of", "PRICING_FILE", "pricing_table"]

PRICING_FILE = Path(__file__).with_name("pricing.json")
_PROFILE = re.compile(r"^(us|eu|apac|global|us-gov)\.")


@cache
def pricing_table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PRICING_FILE.read_text(encoding="utf-8"))
    return data


def price_of(model: str) -> dict[str, float] | None:
    """``{input, output}`` per 1M tokens for ``model``, or None when unpriced."""
    table = pricing_table()["models"]
    model_id = model.strip().lower()
    if "/" in model_id and model_id.split("/", 1)[0] in ("openai", "anthropic", "bedrock", "local"):
        model_id = model_id.split("/", 1)[1] or model_id
    if model.strip().lower().startswith("local"):
        model_id = "local"
    model_id = _PROFILE.sub("", model_id)
    best = max((k for k in table if model_id.startswith(k)), key=len, default=None)
    return None if best is None else {"input": float(table[best]["input"]),
                                      "output": float(table[best]["output"])}


def cost_of(model: str, usage: Usage) -> dict[str, Any]:
    """Sim's cost object: ``{input, output, total, pricing}`` in USD."""
    price = price_of(model)
    if price is None:
        return {"input": 0.0, "output": 0.0, "total": 0.0, "pricing": None}
    inp = usage.prompt * price["input"] / 1_000_000
    out = usage.completion * price["output"] / 1_000_000
    table = pricing_table()
    return {"input": round(inp, 8), "output": round(out, 8), "total": round(inp + out, 8),
            "pricing": {**price, "unit": table["unit"], "currency": table["currency"],
                        "updatedAt": table["updated"]}}
