"""What every command of the CLI shares: its exit codes and its usage error."""

from __future__ import annotations

__all__ = ["UsageError", "EXIT_OK", "EXIT_FAILED", "EXIT_INVALID"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""
