"""Fixtures shared by the functional tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder as the working directory, the CLI's local state in its ``.stepweave``
    (the default) and no records table (a module that needs more defines its own)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)  # the default: .stepweave here
    monkeypatch.delenv("STEPWEAVE_TABLE", raising=False)
    return tmp_path
