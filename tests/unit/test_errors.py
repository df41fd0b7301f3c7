"""Error class names are an API: compiled ASL and callers match on them."""

from __future__ import annotations

import stepweave.errors as errors


def test_block_error_names_are_frozen() -> None:
    assert errors.BLOCK_ERROR_NAMES == (
        "BlockError", "BlockInputError", "BlockTimeoutError", "BlockResourceError",
        "HttpStatusError", "HttpTransportError", "ProviderError", "ProviderAuthError",
        "ProviderRateLimited", "ProviderBadRequest", "ProviderUnavailable", "RouterNoMatch",
    )
    for name in errors.BLOCK_ERROR_NAMES:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.BlockError) and cls.__name__ == name


def test_problems_are_reported_in_order_without_duplicates() -> None:
    a = errors.Problem("f.yaml", "first", "b1", "params.x")
    b = errors.Problem("f.yaml", "second")
    err = errors.WorkflowError([a, b, a])
    assert err.problems == [a, b]
    assert err.report() == ("2 problem(s) found:\n"
                            "  - f.yaml: block 'b1', field 'params.x': first\n"
                            "  - f.yaml: second")
