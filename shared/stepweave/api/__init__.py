"""The run API: start, follow and cancel workflow executions over HTTP, with per-tenant
API keys (``auth``, ``keys``), one error shape (``errors``), the Powertools routes
(``app``) and the ``Executions`` interface to Step Functions (``executions``)."""

from __future__ import annotations
