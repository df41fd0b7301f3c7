"""What a recorded run is billed, as the run API returns it (``ExecutionView.bill``): the
figures of its record priced by ``stepweave.runtime.pricing.record_bill``, and the words
``stepweave run`` and ``stepweave execution`` print."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stepweave.runtime.pricing import record_bill
from stepweave.runtime.records import ExecutionRecord

__all__ = ["BillView", "StretchesBillView", "ChildrenBillView", "bill_view"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class StretchesBillView(_Model):
    executions: int = Field(description="a split workflow's Express stretch executions (0: not split)")
    billed_seconds: float = Field(description="their duration as billed, each rounded up to 100 ms")
    cost_usd: float = Field(description="their requests and duration at 64 MB, dollars per run")


class ChildrenBillView(_Model):
    executions: int = Field(description="child executions of the run's distributed parallels and "
                                        "chunked loops")
    express: int
    express_billed_seconds: float = Field(description="the Express children's duration as billed, "
                                                      "each rounded up to 100 ms")
    standard: int
    standard_transitions: int = Field(description="the Standard children's own state transitions")
    start_transitions: int = Field(description="each child's start, billed as a state transition")
    unread: int | None = Field(default=None, description=(
        "children whose own charges are not known (deployed: Standard children the recorder "
        "did not read, children still running when the run ended); only their starts are priced"))
    cost_usd: float = Field(description="dollars per run")


class BillView(_Model):
    workflow_type: str = Field(description="STANDARD or EXPRESS: how the run itself is billed")
    state_transitions: int = Field(description="the run's own billed state transitions")
    lambda_invocations: int | None = Field(default=None, description=(
        "counted, not priced (absent: not counted, a deployed Express run recorded from its log)"))
    cost_usd: float = Field(description="the run's own charges, dollars per run")
    express_stretches: StretchesBillView
    child_executions: ChildrenBillView
    total_cost_usd: float = Field(description="the run's, its stretches' and its children's charges, "
                                              "dollars per run (Lambda not included)")
    text: str = Field(description="the same in the words of `stepweave run` and `stepweave execution`")


def bill_view(record: ExecutionRecord) -> BillView | None:
    """The bill of a recorded run; None when its record does not have the figures (a run
    still going, a record written before they were)."""
    bill = record_bill(record)
    return None if bill is None else BillView.model_validate(bill.as_json())
