"""The integration catalogue: a table of every provider operation (its tool name, what it
does, its auth and default secrets, the Sim block / operation / tool ids it stands for),
written into docs/integrations.md between its catalogue markers.

    python -m stepweave.integrations.catalogue            # rewrites the table
    python -m stepweave.integrations.catalogue --check    # exit 1 when the doc is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stepweave.integrations.registry import operations
from stepweave.integrations.spec import AuthSpec, Operation

__all__ = ["render_table", "updated", "main", "START", "END"]

START = "<!-- catalogue:start (python -m stepweave.integrations.catalogue) -->"
END = "<!-- catalogue:end -->"
_AUTH = {"none": "none", "bearer": "bearer token", "header": "API key header",
         "query": "API key query parameter", "basic": "basic auth",
         "oauth2": "OAuth2 (refresh token)"}


def _auth(auth: AuthSpec, operation: Operation) -> str:
    text = _AUTH[auth.type]
    if auth.type == "header":
        text += f" `{auth.name}`"
    if auth.type == "oauth2" and auth.client_credentials:
        text += " or client credentials"
    return f"{text}: {', '.join(f'`{s}`' for s in operation.secrets())}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table() -> str:
    rows = ["| provider | tool | does | auth (default secrets) | Sim block: operations | "
            "Sim tool ids |", "|---|---|---|---|---|---|"]
    for op in sorted(operations(), key=lambda o: (o.provider.title.lower(), o.name)):
        sim = op.spec.sim
        blocks = " / ".join(f"`{b}`" for b in sim.blocks)
        if sim.operations:
            blocks += ": " + ", ".join(f"`{o}`" for o in sim.operations)
        rows.append(f"| {_cell(op.provider.title)} | `{op.name}` | {_cell(op.spec.description)} | "
                    f"{_auth(op.provider.auth, op)} | {blocks} | "
                    f"{', '.join(f'`{t}`' for t in sim.tools)} |")
    return "\n".join(rows) + "\n"


def updated(doc: str) -> str:
    """``doc`` with the table between the markers replaced by the current one."""
    if START not in doc or END not in doc:
        raise ValueError(f"the catalogue markers are missing ({START} ... {END})")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render_table()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stepweave.integrations.catalogue",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--doc", type=Path, default=Path("docs/integrations.md"))
    parser.add_argument("--check", action="store_true", help="exit 1 when the doc is stale")
    args = parser.parse_args(argv)
    try:
        current = args.doc.read_text(encoding="utf-8")
        fresh = updated(current)
    except (OSError, ValueError) as exc:
        print(f"{args.doc}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if fresh != current:
            print(f"{args.doc} is stale: run python -m stepweave.integrations.catalogue",
                  file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        args.doc.write_text(fresh, encoding="utf-8")
        print(f"{args.doc}: catalogue updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
