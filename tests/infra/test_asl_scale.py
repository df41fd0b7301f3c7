"""The distributed shapes pass AWS's own ASL validation.

GIVEN a Standard workflow with a 10,000-item parallel, a 10,000-iteration loop (Lambda
body: Standard chunks) and one whose collection comes from its input (``mode:
distributed``) WHEN compiled THEN the ``amazon-states-language-service`` (the AWS Toolkit's
validation) reports no diagnostic: the distributed Map fields, ``ResultWriter`` with
JSONata ``Arguments``, ``ExecutionType: EXPRESS``, the chunk's back-edge.
"""

from __future__ import annotations

from tests.engine.helpers import compile_text
from tests.infra.test_asl_language_service import _validate

SHAPES = {
    "parallel": """
name: wide
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: tag, type: string}]}}
  - {id: par, type: parallel, params: {parallelType: count, count: 10000, toleratedFailurePercentage: 5}}
  - {id: each, type: function, parent: par, params: {code: "return <start.tag> + <parallel.index>"}}
  - {id: after, type: function, params: {code: "return <par.results>.length"}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> after]
""",
    "loop": """
name: long
type: standard
blocks:
  - {id: start, type: start}
  - {id: L, type: loop, params: {loopType: for, count: 10000}}
  - {id: each, type: function, parent: L, params: {code: "return <loop.index>"}}
edges: [start -> L, "L -[loop-start-source]-> each"]
""",
    "forEach": """
name: each
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: L, type: loop, params: {loopType: forEach, collection: "<start.items>", mode: distributed}}
  - {id: each, type: variables, parent: L, params: {variables: [{variableName: v, value: "<loop.currentItem>"}]}}
edges: [start -> L, "L -[loop-start-source]-> each"]
""",
}


def test_the_distributed_shapes_have_no_diagnostic() -> None:
    definitions = {name: compile_text(text).definition for name, text in SHAPES.items()}
    assert all('"DISTRIBUTED"' in str(d).replace("'", '"') for d in definitions.values())
    assert {name: diags for name, diags in _validate(definitions).items() if diags} == {}
