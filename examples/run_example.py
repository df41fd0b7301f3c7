"""Run the main example end to end on the embedded engine.

Starts the stand-in internal API on a free loopback port, points INTERNAL_API_URL
at it, runs ``stepweave run workflows/support-timeline.yaml`` with a Shopify-style
order, prints the events the internal API received, and stops the API.
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
        status = main(["run", str(ROOT / "workflows" / "support-timeline.yaml"),
                       "--input", str(ROOT / "examples" / "shopify-order.json"), *sys.argv[1:]])
        print("timeline events received by the internal API:", file=sys.stderr)
        print(json.dumps(api.events, indent=2), file=sys.stderr)
        return status
    finally:
        api.shutdown()
        api.server_close()


if __name__ == "__main__":
    raise SystemExit(run())
