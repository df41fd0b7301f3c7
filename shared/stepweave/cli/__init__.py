"""The ``stepweave`` command: ``app`` has the parser and the workflow commands (validate,
compile, run...), one module per other command group (``approvals``, ``keys``, ``pages``,
``records``, ``serve``, ``verify``, ``webhook``), ``errors`` what they share. Every module
imports downwards: the groups import ``errors``, never ``app``."""

from __future__ import annotations

from stepweave.cli.app import main

__all__ = ["main"]
