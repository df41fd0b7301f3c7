"""The syntax of a workflow's text: Sim-style references (``<block.path>``, ``<loop.index>``)
and ``{{NAME}}`` placeholders. A leaf: it imports nothing of the package.

What counts as a reference follows Sim (SIM-COMPAT §2.1): ``<...>`` whose inner text
does not start with a space, contains none of ``+ * / = < > !``, is not all digits
and has no whitespace after the first dot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Ref", "find_refs", "ENV_PATTERN", "SECRET_PLACEHOLDER", "split_path", "is_sole_ref"]

_CANDIDATE = re.compile(r"<([^<>]+)>")
ENV_PATTERN = re.compile(r"\{\{([^}]+)\}\}")
#: ``{{NAME}}``: a named secret, resolved by the handler (``stepweave.runtime.secrets``).
SECRET_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Ref:
    start: int
    end: int
    inner: str

    @property
    def head(self) -> str:
        return self.inner.split(".", 1)[0].split("[", 1)[0]

    @property
    def path(self) -> list[str | int]:
        rest = self.inner[len(self.head):]
        return split_path(rest)


def split_path(text: str) -> list[str | int]:
    """``.a.0.b`` / ``.a[0].b`` -> ``["a", 0, "b"]``."""
    out: list[str | int] = []
    for name, index in _SEGMENT.findall(text):
        if index:
            out.append(int(index))
        elif name.isdigit():
            out.append(int(name))
        else:
            out.append(name)
    return out


def _looks_like_ref(inner: str) -> bool:
    if not inner or inner[0].isspace() or inner.isdigit():
        return False
    if any(c in inner for c in "+*/=<>!"):
        return False
    if "." in inner and any(c.isspace() for c in inner.split(".", 1)[1]):
        return False
    return True


def find_refs(text: str) -> list[Ref]:
    return [Ref(m.start(), m.end(), m.group(1)) for m in _CANDIDATE.finditer(text)
            if _looks_like_ref(m.group(1))]


def is_sole_ref(text: str) -> Ref | None:
    refs = find_refs(text)
    if len(refs) == 1 and refs[0].start == 0 and refs[0].end == len(text.strip()) \
            and text == text.strip():
        return refs[0]
    return None
