"""``stepweave test``: run the workflow tests (``*.test.yaml`` beside the workflows) on the
embedded engine, with mocked blocks and no network (``stepweave.local.workflow_tests``).

Prints one line per test as it finishes, then each failure and a summary; ``--json`` prints
one JSON document instead. Exit 0 when every test passed, 1 when one failed, 2 when a test
file (or its workflow) is invalid, 5 when no test ran (as pytest: no test file, or ``-k``
matched none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from stepweave.cli.errors import EXIT_FAILED, EXIT_OK

__all__ = ["add_parser", "cmd_test", "EXIT_NO_TESTS"]

EXIT_NO_TESTS = 5


def cmd_test(args: argparse.Namespace) -> int:
    from stepweave.local.workflow_tests import CaseResult, run_test_files
    from stepweave.workflow.loader import named_files, test_files

    # handler logs and CloudWatch metrics are for AWS; here they would drown the results
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if args.debug else "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false" if args.debug else "true")
    paths = args.paths or (["workflows"] if Path("workflows").is_dir() else ["."])
    files = named_files(paths, test_files)
    started = time.monotonic()

    def show(result: CaseResult) -> None:
        if not args.json:
            mark = "PASSED" if result.passed else "FAILED"
            print(f"{result.id} {mark} ({result.duration_s:.1f} s)", flush=True)

    results = run_test_files(files, show, select=args.k)
    elapsed = time.monotonic() - started
    failed = [r for r in results if not r.passed]
    if args.json:
        document: dict[str, Any] = {
            "passed": len(results) - len(failed), "failed": len(failed),
            "durationMs": round(elapsed * 1000),
            "tests": [{"file": r.file, "name": r.name, "passed": r.passed, "status": r.status,
                       "failures": r.failures, "durationMs": round(r.duration_s * 1000)}
                      for r in results]}
        print(json.dumps(document, indent=2))
    else:
        for result in failed:
            print(f"\nFAILED {result.id}")
            for failure in result.failures:
                print(f"  - {failure}")
        if not files:
            print(f"no test files (*.test.yaml) in {', '.join(paths)}", file=sys.stderr)
        elif not results:
            print(f"no test's name contains {args.k!r}", file=sys.stderr)
        print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed in {elapsed:.1f} s")
    if not results:
        return EXIT_NO_TESTS
    return EXIT_FAILED if failed else EXIT_OK


def add_parser(sub: Any) -> None:
    p = sub.add_parser("test", help="run the workflow tests (*.test.yaml) on the embedded engine",
                       description="Run the workflow tests (*.test.yaml beside the workflows) on "
                                   "the embedded engine, with mocked blocks and no network.")
    p.add_argument("paths", nargs="*", help="test files or folders (default: workflows/, else .)")
    p.add_argument("-k", metavar="TEXT", help="only the tests whose name contains TEXT")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_test)
