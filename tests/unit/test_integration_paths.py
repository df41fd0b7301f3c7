"""A value put into an integration's URL path stays one path segment: it cannot climb the
provider's API (``..``) or add segments (``/``), whoever wrote it (run input, a model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.errors import StepweaveError
from stepweave.runtime.settings import Settings
from stepweave.blocks.tool_block import run_tool_block


@pytest.mark.parametrize("page", ["..", "."])
def test_a_dot_segment_is_refused_before_any_request(page: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_tok_123")
    # the base URL points nowhere: reaching the network would fail differently
    with pytest.raises(StepweaveError) as info:
        run_tool_block({"tool": "notion_append", "params": {
            "pageId": page, "content": "x", "baseUrl": "http://127.0.0.1:9"}}, {},
            settings=Settings(local_dir=tmp_path))
    assert "not a valid path segment" in str(info.value)
