"""The description of a published state machine version: which workflow file and which
definition it was published from (one spelling, written by the CDK app's
``infra.versions`` and read back by ``stepweave versions``)::

    stepweave workflow=<name> file=sha256:<16 hex> definition=sha256:<16 hex>

At most 256 characters (Step Functions' limit): a workflow name has at most 80.
"""

from __future__ import annotations

import re

__all__ = ["HASH_CHARS", "description_fields", "version_description"]

#: Hex digits of each SHA-256 kept in the description.
HASH_CHARS = 16
_FIELD = re.compile(r"(?P<key>workflow|file|definition)=(?P<value>\S+)")


def version_description(workflow: str, file_sha256: str | None, definition_sha256: str) -> str:
    parts = [f"stepweave workflow={workflow}"]
    if file_sha256:
        parts.append(f"file=sha256:{file_sha256[:HASH_CHARS]}")
    parts.append(f"definition=sha256:{definition_sha256[:HASH_CHARS]}")
    return " ".join(parts)


def description_fields(description: str | None) -> dict[str, str]:
    """``version_description``'s fields back (``workflow``, ``file``, ``definition``); none
    from a description written otherwise."""
    return {m["key"]: m["value"] for m in _FIELD.finditer(description or "")}
