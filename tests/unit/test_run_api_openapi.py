"""docs/openapi.json is the document the API's routes generate (regenerate with
``python -m stepweave.api.openapi > docs/openapi.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from stepweave.api.openapi import openapi_document
from stepweave.api.sim_routes import LEGACY_ROUTES
from stepweave.api.errors import Throttled, error_response

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == openapi_document()


def test_the_document_describes_every_route_and_both_key_headers() -> None:
    doc = json.loads(openapi_document())
    assert set(doc["paths"]) == {"/health", "/v1/workflows/{workflow}/executions", "/v1/workflows/{workflow}/run",
                                 "/v1/executions", "/v1/executions/{execution_id}",
                                 "/v1/executions/{execution_id}/cancel", "/v1/executions/{execution_id}/rerun",
                                 "/v1/executions/{execution_id}/retry",
                                 "/v1/approvals", "/v1/approvals/{approval_id}/decision",
                                 "/approvals/{approval_id}", "/webhooks/{workflow}",
                                 "/api/v2/workflows/{workflow_id}/execute", "/api/workflows/{workflow_id}/execute",
                                 "/api/v2/workflows/{workflow_id}/runs/{run_id}", "/api/jobs/{job_id}",
                                 "/api/workflows/{workflow_id}/status", "/api/users/me/usage-limits"}
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    # webhooks are signed and the pages' id is their credential: no API key there
    assert doc["paths"]["/webhooks/{workflow}"]["post"]["security"] == []
    assert doc["paths"]["/approvals/{approval_id}"]["get"]["security"] == []


def test_the_document_covers_every_route_the_gateway_serves() -> None:
    from stepweave.local.gateway import stepweave_routes

    def handler(event: dict[str, object]) -> dict[str, object]:
        return {}

    doc = json.loads(openapi_document())
    served = {(r.method.lower(), r.resource.replace("{id}", "{x}"))
              for r in stepweave_routes(handler, ingest=handler, decision=handler)}
    documented = {(method, path.replace("{execution_id}", "{x}").replace("{approval_id}", "{x}"))
                  for path, operations in doc["paths"].items() for method in operations}
    assert served == documented


def test_errors_share_one_shape_with_retry_after_when_throttled() -> None:
    response = Throttled(retry_after=7).response()
    assert response["statusCode"] == 429 and response["headers"]["Retry-After"] == "7"
    assert json.loads(response["body"]) == {"error": {"code": "throttled", "message": "too many requests"}}
    assert json.loads(error_response(504, "timeout", "late", executionId="arn:x")["body"])["error"] == {
        "code": "timeout", "message": "late", "executionId": "arn:x"}


def test_every_route_documents_its_error_responses_in_the_one_shape() -> None:
    doc = json.loads(openapi_document())
    run = doc["paths"]["/v1/workflows/{workflow}/run"]["post"]["responses"]
    assert {"400", "401", "404", "409", "413", "429", "500", "504"} <= set(run)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"]  # validation errors are 400s
            errors = [c for c in operation["responses"] if c.startswith(("4", "5"))]
            assert errors, (method, path)
            for code in errors:
                content = operation["responses"][code]["content"]
                if path.startswith("/approvals/"):  # the decision pages answer errors as pages
                    assert set(content) == {"text/html"}, (method, path, code)
                    continue
                schema = content["application/json"]["schema"]
                if path in LEGACY_ROUTES:  # Sim's older routes: {"error": "<message>", "code"}
                    assert schema == {"$ref": "#/components/schemas/SimLegacyError"}, (method, path, code)
                    continue
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
