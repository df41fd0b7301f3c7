"""The conformance set: workflows with inputs and the results they must give, locally and
once deployed (``stepweave verify``).

The set (``workflows/`` beside this file, listed with inputs and expected results in
``cases.json``) is Sim conformance scenarios whose results Sim's own engine produced, and
workflows exercising the compiler's JSONata idioms over edge data. ``stepweave verify``
runs every case on the embedded engine and compares it with the expected result;
``stepweave verify --aws --stage S`` also runs each one on the deployed stage (deploy the set
as a stage of its own: ``cdk deploy -c stage=conformance -c workflowsDir=shared/stepweave/conformance/workflows``)
and reports, per workflow, whether the deployed run matches the local one.
"""

from __future__ import annotations

from stepweave.conformance.cases import CASES_FILE, WORKFLOWS_DIR, Case, load_cases
from stepweave.conformance.runner import Outcome, compare, run_aws, run_local

__all__ = ["Case", "load_cases", "CASES_FILE", "WORKFLOWS_DIR", "Outcome", "compare",
           "run_local", "run_aws"]
