"""JSON Schema for workflow files, generated from the pydantic model."""

from __future__ import annotations

from typing import Any

from stepweave.workflow.model import Workflow

__all__ = ["workflow_schema"]


def workflow_schema() -> dict[str, Any]:
    schema = Workflow.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://stepweave.dev/schema/workflow.schema.json"
    schema["title"] = "Stepweave workflow (format v1)"
    return schema
