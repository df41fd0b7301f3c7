"""Shared fixtures: the embedded engine is started once per test module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

ROOT = Path(__file__).resolve().parent.parent
SIM_CASES = ROOT.parent / "shared" / "sim-cases"
FIXTURE_CASES = ROOT / "tests" / "fixtures" / "sim-cases"


def sim_cases_dir() -> Path:
    """The Sim conformance exports: the checked-in copy, else the shared folder."""
    return FIXTURE_CASES if FIXTURE_CASES.is_dir() else SIM_CASES


@pytest.fixture(scope="session", autouse=True)
def _local_records_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Local runs keep their records in a temporary folder, not in the working directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STEPWEAVE_LOCAL_DIR", str(tmp_path_factory.mktemp("stepweave-local")))
        yield


@pytest.fixture(scope="module")
def engine() -> Iterator[object]:
    from stepweave.local.engine import LocalEngine

    with LocalEngine() as eng:
        yield eng
