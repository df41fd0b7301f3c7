"""Validation: every problem in one report, each naming file, block and field; exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main

BROKEN = """
version: 1
name: broken
blocks:
  - {id: start, type: start}
  - {id: a, name: Fetch, type: api, params: {url: "https://x", verb: GET}}
  - {id: b, name: fetch, type: function, params: {code: "return 1"}}
  - {id: c, type: teleport}
  - {id: d, type: function, params: {code: "return <nosuch.result>"}}
  - {id: e, type: function, params: {code: "return <fetch.colour>"}}
  - {id: f, type: function, params: {code: "return <loop.index>"}}
  - {id: L, type: loop, params: {loopType: for, count: 2}}
  - {id: g, type: function, params: {code: "return 1"}, parent: L, enabled: false}
  - {id: h, type: function, params: {code: "return 1"}}
  - {id: i, type: function, params: {code: "return 1"}}
  - {id: i, name: again, type: function, params: {code: "return 2"}}
edges:
  - start -> a
  - start -> b
  - a -[teleported]-> c
  - start -> d
  - b -> e
  - start -> f
  - start -> L
  - L -[error]-> h
  - start -> h
  - h -> i
  - i -> h
  - start -> ghost
"""


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    return path


def test_every_problem_is_reported_at_once(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(broken)]) == 2
    err = capsys.readouterr().err
    expected = [
        "block 'a', field 'params.verb': unknown param",
        "block 'b', field 'name': name 'fetch' is used by another block (a)",
        "block 'c', field 'type': unknown block type 'teleport'",
        "field 'edges[11].target': edge #12 (start -> ghost) target 'ghost' is not a block id",
        "block 'L': loop has no enabled block inside",
        "block 'L', field 'edges': a loop or parallel cannot have an error edge",
        "cycle outside a loop",
        "unknown source handle 'teleported'",
        "block 'i', field 'id': duplicate block id",
    ]
    for fragment in expected:
        assert fragment in err, fragment
    assert str(broken) in err
    assert "Traceback" not in err


def test_reference_problems_name_block_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "refs.yaml"
    path.write_text("""
version: 1
name: refs
blocks:
  - {id: start, type: start}
  - {id: a, name: Fetch, type: api, params: {url: "https://x/<start.id>/<fetch.colour>"}}
  - {id: d, type: function, params: {code: "return <nosuch.result>"}}
  - {id: e, type: function, params: {code: "return <fetch.colour>"}}
  - {id: f, type: function, params: {code: "return <loop.index>"}}
edges: [start -> a, a -> d, a -> e, a -> f]
""")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    # every key of the run input is a start field (Sim resolves it at run time)
    assert "<start.id>" not in err
    assert "block 'a', field 'params': <fetch.colour>: \"colour\" doesn't exist" in err
    assert "block 'd', field 'params': <nosuch.result> refers to no block" in err
    assert "block 'e', field 'params': <fetch.colour>: \"colour\" doesn't exist on block \"fetch\". " \
           "Available fields: data, headers, status" in err
    assert "block 'f', field 'params': <loop.index> is used outside any loop" in err


def test_valid_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("version: 1\nname: ok\nblocks: [{id: start, type: start}]\n")
    assert main(["validate", str(path)]) == 0
    assert "ok (1 blocks" in capsys.readouterr().out


def test_debug_flag_shows_the_traceback(broken: Path) -> None:
    from stepweave.errors import WorkflowError

    with pytest.raises(WorkflowError):
        main(["--debug", "validate", str(broken)])


def test_environment_values_in_native_blocks_are_refused(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("""
version: 1
name: env
blocks:
  - {id: start, type: start}
  - {id: r, type: response, params: {data: {key: "{{API_KEY}}"}}}
edges: [start -> r]
""")
    assert main(["validate", str(path)]) == 2
    assert ("block 'r', field 'params': {{API_KEY}}: environment values are resolved by handler "
            "blocks (function, api) only") in capsys.readouterr().err


@pytest.mark.parametrize(("params", "message"), [
    ('{timeValue: "0"}', "Wait amount must be a positive number"),
    ('{timeValue: "6", timeUnit: minutes}', "exceeds maximum of 5 minutes; enable async mode"),
    ('{timeValue: "31", async: true, timeUnitLong: days}', "exceeds maximum of 30 days"),
    ('{timeValue: "soon"}', "Wait amount must be a positive number, got 'soon'"),
])
def test_wait_limits_follow_sim(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                params: str, message: str) -> None:
    path = tmp_path / "wait.yaml"
    path.write_text(f"""
version: 1
name: wait
blocks:
  - {{id: start, type: start}}
  - {{id: w, type: wait, params: {params}}}
edges: [start -> w]
""")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "block 'w', field 'params'" in err and message in err
