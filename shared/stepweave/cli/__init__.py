"""The ``stepweave`` command: ``app`` has the parser and the workflow commands (validate,
compile, import, graph, schema), one module per other command group (``run``, ``rerun``,
``retry``, ``watch``, ``test``, ``schedules``, ``approvals``, ``keys``, ``pages``,
``records``, ``serve``, ``verify``, ``webhook``), ``errors`` what they share. Every module
imports downwards: the groups import ``errors`` (and each other), never ``app``."""

from __future__ import annotations

from stepweave.cli.app import main

__all__ = ["main"]
