"""JSON Schema for workflow files, generated from the pydantic models.

The workflow model gives the file's shape; each block type's params model in the block
catalog (``stepweave.blocks.catalog``) gives one ``if``/``then`` on ``Block`` (``type`` is
that type or an alias -> ``params`` is that model), so editors complete and check params.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from stepweave.blocks.catalog import CATALOG
from stepweave.workflow.model import Workflow

__all__ = ["workflow_schema", "SCHEMA_ID"]

SCHEMA_ID = "https://stepweave.dev/schema/workflow.schema.json"
_SIM_TYPE = "^sim:[A-Za-z0-9_-]+$"


def workflow_schema() -> dict[str, Any]:
    types = list(CATALOG.values())
    params_models = list(dict.fromkeys(t.params for t in types))
    refs, defs = models_json_schema(
        [(Workflow, "validation"), *((m, "validation") for m in params_models)],
        ref_template="#/$defs/{model}")
    schema: dict[str, Any] = {**refs[(Workflow, "validation")]}
    schema.pop("$ref", None)
    all_defs: dict[str, Any] = defs["$defs"]
    root = all_defs.pop(Workflow.__name__)
    schema.update(root)
    schema["$defs"] = all_defs
    block = all_defs["Block"]
    names = [alias for t in types for alias in (t.name, *t.aliases)]
    block["properties"]["type"] = {
        "title": "Type", "description": "A block type of the catalog (docs/blocks.md), or "
        "sim:<type> for an imported Sim block with no equivalent yet.",
        "anyOf": [{"enum": names}, {"type": "string", "pattern": _SIM_TYPE}]}
    block["allOf"] = [
        {"if": {"properties": {"type": {"enum": [t.name, *t.aliases]}}, "required": ["type"]},
         "then": {"properties": {"params": {
             **refs[(t.params, "validation")], "description": t.description}}}}
        for t in types]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "Stepweave workflow (format v1)"
    return schema
