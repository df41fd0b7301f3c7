"""Run the main example end to end on the embedded engine.

Starts the stand-in internal API on a free loopback port, points INTERNAL_API_URL
at it, runs ``stepweave run workflows/support-timeline.yaml`` with a Shopify-style
order, prints the events and refunds the internal API received, and stops the API.

The order asks for a refund above the approval threshold, so the run pauses for a
support lead's approval: the email is written to ``.stepweave/outbox/``. By default the
example answers it on the command line (``--approve``) so that it runs unattended; with
``--wait`` it waits for you to open the emailed link (served on 127.0.0.1:8787) and
decide in the browser, or to answer with ``stepweave approvals``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from internal_api import InternalApi  # noqa: E402

from stepweave.cli import main  # noqa: E402


def run() -> int:
    api = InternalApi().start()
    os.environ["INTERNAL_API_URL"] = api.url
    try:
        print(f"internal API (stand-in) listening on {api.url}", file=sys.stderr)
        args = [a for a in sys.argv[1:] if a != "--wait"]
        if "--wait" not in sys.argv[1:]:
            args += ["--approve", 'Approve refund={"approved": true, "comments": "Photo of the '
                     'cracked screen checked"}']
        status = main(["run", str(ROOT / "workflows" / "support-timeline.yaml"),
                       "--input", str(ROOT / "examples" / "shopify-order.json"), *args])
        print("timeline events received by the internal API:", file=sys.stderr)
        print(json.dumps(api.events, indent=2), file=sys.stderr)
        print("refunds issued by the internal API:", file=sys.stderr)
        print(json.dumps(api.refunds, indent=2), file=sys.stderr)
        return status
    finally:
        api.shutdown()
        api.server_close()


if __name__ == "__main__":
    raise SystemExit(run())
