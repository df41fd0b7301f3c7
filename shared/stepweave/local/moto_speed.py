"""Per-state costs of moto's interpreter, cut where the answer stays the same.

A distributed Map runs each item as a child execution: a few states, so what moto spends per
state is most of what 10,000 items cost. Patched here (installed by
:mod:`stepweave.local.moto_adapter`):

* ``ResultPath``: moto parsed its JSONPath (``$`` in every JSONata state) on every state,
  and ``jsonpath_ng`` builds its parser tables anew for each parse (about 0.3 ms). The
  parsed path is kept per path text: a parsed path holds no state, ``update_or_create``
  builds its result from its arguments.
* A state's ``StateExited`` details in an Express child of a distributed Map (AWS keeps no
  history for it; the engine keeps its events for the run's block logs only: its event
  manager says ``stepweave_blocks_only``) hold only what block logs read
  (``stepweave.runtime.history``): the variables a block's completion or a loop's index
  assigns (``b…_``, ``t…_``, ``i_…``), and a Map or Parallel state's output. moto wrote the
  state's output and every variable it assigned as JSON (a loop's results so far, at every
  iteration). The variables' tracing is reset as moto resets it.
"""

# ruff: noqa: E402 - moto is imported once its Batch backend is deferred
from __future__ import annotations

import functools
import re
import threading
from typing import Any

from stepweave.local.moto_imports import defer_batch

defer_batch()

from moto.stepfunctions.parser.api import StateExitedEventDetails
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import (
    StateParallel,
)
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

__all__ = ["install", "PATCHED_ATTRIBUTES"]

_installed = False
_lock = threading.Lock()
_moto_parse = getattr(result_path, "parse")  # noqa: B009 - not re-exported by moto


@functools.lru_cache(maxsize=256)
def _parse(path: str) -> Any:
    return _moto_parse(path)


_moto_exited_details = CommonStateField._get_state_exited_event_details


#: the variables block logs read (``stepweave.runtime.history``)
_BLOCK_VARIABLES = re.compile(r"[bt]\d*_|i_")


def _exited_details(self: Any, env: Any) -> Any:
    if not getattr(env.event_manager, "stepweave_blocks_only", False) \
            or isinstance(self, (StateMap, StateParallel)):
        return _moto_exited_details(self, env)
    details = StateExitedEventDetails(name=self.name)
    store = env.variable_store
    wanted = [name for name in store._declaration_tracing  # noqa: SLF001 - moto's own reader
              if _BLOCK_VARIABLES.match(name)]
    if wanted:
        assigned = {}
        for name in wanted:
            value = store.get(name)
            # as moto writes them (a string unescaped)
            assigned[name] = f'"{value}"' if isinstance(value, str) else to_json_str(value, separators=(",", ":"))
        details["assignedVariables"] = assigned
        details["assignedVariablesDetails"] = {"truncated": False}
    store.reset_tracing()
    return details


def install() -> None:
    """Apply the patches (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        setattr(result_path, "parse", _parse)  # noqa: B010 - a module attribute
        CommonStateField._get_state_exited_event_details = _exited_details  # type: ignore[method-assign]
        _installed = True


# Kept for the adapter test: the attributes this module replaces must exist.
PATCHED_ATTRIBUTES: tuple[tuple[Any, str], ...] = (
    (result_path, "parse"),
    (CommonStateField, "_get_state_exited_event_details"),
)
