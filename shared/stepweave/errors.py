"""The one exception tree of Stepweave.

``StepweaveError`` is the root. Two families hang off it:

* ``WorkflowError`` — problems with a workflow file, found before anything runs
  (loading, validation, compilation). They carry a list of ``Problem`` entries so
  that every problem is reported at once, each naming file, block and field.
* ``BlockError`` — a block failed while running. Its subclasses' *class names* are
  an API: they appear in the ``ErrorEquals`` of compiled state machines (Lambda
  reports the exception class name as the Step Functions error name), so renaming
  one is a breaking change. ``tests/unit/test_errors.py`` freezes the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "StepweaveError",
    "Problem",
    "WorkflowError",
    "BlockError",
    "BlockInputError",
    "BlockTimeoutError",
    "BlockResourceError",
    "HttpStatusError",
    "HttpTransportError",
    "ProviderError",
    "ProviderAuthError",
    "ProviderRateLimited",
    "ProviderBadRequest",
    "ProviderUnavailable",
    "RouterNoMatch",
    "BLOCK_ERROR_NAMES",
    "BLOCK_FAILED_ERROR",
    "RESPONSE_ERROR",
    "aws_error_code",
    "is_conditional_failure",
    "param_problems",
]


class StepweaveError(Exception):
    """Root of every error Stepweave raises on purpose."""


def aws_error_code(exc: BaseException) -> str | None:
    """The ``Error.Code`` of an AWS API error (a botocore ``ClientError``), else None."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else None


def param_problems(exc: ValidationError, *, plain: bool = False) -> str:
    """A params model's validation errors in one line: ``<field path>: <message>; ...``
    (``unknown param`` for a field the model does not take). ``plain`` drops pydantic's
    ``Value error, `` prefix from validators' messages."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'params'}: "
        + ("unknown param" if err["type"] == "extra_forbidden"
           else err["msg"].removeprefix("Value error, ") if plain else err["msg"])
        for err in exc.errors(include_url=False, include_input=False))


def is_conditional_failure(exc: BaseException) -> bool:
    """True for DynamoDB's answer to a write whose condition did not hold."""
    return aws_error_code(exc) == "ConditionalCheckFailedException"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a workflow file."""

    file: str
    message: str
    block: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.block:
            where += f": block '{self.block}'"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class WorkflowError(StepweaveError):
    """A workflow file cannot be loaded, validated or compiled."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=_problem_order(problems))
        super().__init__(self.report())

    def report(self) -> str:
        lines = [f"{len(self.problems)} problem(s) found:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _problem_order(problems: list[Problem]):  # type: ignore[no-untyped-def]
    first_seen = {p: i for i, p in reversed(list(enumerate(problems)))}
    return lambda p: first_seen[p]


class BlockError(StepweaveError):
    """A block failed at run time. The message is what users see as the block's error."""


class BlockInputError(BlockError):
    """The block's resolved parameters are invalid (e.g. a URL that is not a URL)."""


class BlockTimeoutError(BlockError):
    """The block ran past its time limit (e.g. a runaway script)."""


class BlockResourceError(BlockError):
    """The block exceeded a resource limit other than time (e.g. sandbox memory)."""


class HttpStatusError(BlockError):
    """An HTTP call answered with a non-2xx status (after any retries)."""


class HttpTransportError(BlockError):
    """An HTTP call could not be completed (DNS, connect, read timeout...)."""


class ProviderError(BlockError):
    """A model provider refused or failed a request (the subclasses say why)."""


class ProviderAuthError(ProviderError):
    """The provider rejected the credentials (401/403), or no API key is set."""


class ProviderRateLimited(ProviderError):
    """The provider kept answering 429 after every retry."""


class ProviderBadRequest(ProviderError):
    """The provider rejected the request itself (400/404/422: model, params, schema)."""


class ProviderUnavailable(ProviderError):
    """The provider failed (5xx) or did not answer in time, after every retry."""


class RouterNoMatch(BlockError):
    """A router's model chose no route (NO_MATCH) or a route that does not exist."""


#: Every block error class name that can appear in a compiled ``ErrorEquals``.
BLOCK_ERROR_NAMES: tuple[str, ...] = (
    "BlockError",
    "BlockInputError",
    "BlockTimeoutError",
    "BlockResourceError",
    "HttpStatusError",
    "HttpTransportError",
    "ProviderError",
    "ProviderAuthError",
    "ProviderRateLimited",
    "ProviderBadRequest",
    "ProviderUnavailable",
    "RouterNoMatch",
)

#: The error a compiled state machine fails with when a block fails without an error edge
#: (its cause is "<block name>: <message>").
BLOCK_FAILED_ERROR = "Stepweave.BlockFailed"

#: Raised inside a branch by a Response block and caught at the top level, which ends the
#: run successfully with the response (its cause is the response as JSON).
RESPONSE_ERROR = "Stepweave.Response"
