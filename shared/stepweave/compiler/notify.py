"""An approval's ``notify`` tools may name the approval's own links, which exist only once
the notifier has stored the request: ``<Approval.url>`` and ``<Approval.resumeEndpoint>``
(Sim resolves these self-references in its notification tools the same way).

Before the graph is built, such references in an approval block's ``notify`` params become
``LINK_TOKENS`` (which are not references), and the notifier puts the links in their place
(``stepweave.blocks.approval_block.fill_links``). Every other reference in ``notify`` resolves like any param's.
"""

from __future__ import annotations

from stepweave.blocks.approval_block import LINK_TOKENS
from stepweave.refs import find_refs
from stepweave.values import map_strings
from stepweave.workflow.model import Workflow, normalize_name

__all__ = ["with_link_tokens"]


def _tokens(text: str, names: set[str]) -> str:
    """``text`` with its references to the approval's own links (``names``: the block's
    normalised names) replaced by their tokens."""
    out, last = [], 0
    for ref in find_refs(text):
        path = ref.path
        if normalize_name(ref.head) in names and len(path) == 1 and path[0] in LINK_TOKENS:
            out += [text[last:ref.start], LINK_TOKENS[str(path[0])]]
            last = ref.end
    return "".join(out) + text[last:] if out else text


def with_link_tokens(workflow: Workflow) -> Workflow:
    """``workflow`` with each approval's self-references in ``notify`` made tokens."""
    blocks = []
    changed = False
    for block in workflow.blocks:
        notify = block.params.get("notify") if block.type in ("approval", "human_in_the_loop") else None
        if notify:
            names = {normalize_name(block.ref_name), normalize_name(block.id)}
            replaced = map_strings(notify, lambda text: _tokens(text, names))
            if replaced != notify:
                block = block.model_copy(update={"params": {**block.params, "notify": replaced}})
                changed = True
        blocks.append(block)
    return workflow.model_copy(update={"blocks": blocks}) if changed else workflow
