"""Which secrets a handler block may read, and where the author wrote them.

A ``{{NAME}}`` is a secret only in text the workflow author wrote. The compiler finds each
one in the block's literal params (before references are compiled) and turns that string
into a template ``[text, NAME, text, ...]``: the texts keep their references, which the
state machine resolves as usual, and the names stay literal. The block's event says which
names it may read and where the templates are (``BlockEvent.secrets``); the handler joins
exactly those templates and reads nothing else (``stepweave.runtime.secrets``). A value
that arrives at run time (run input, a webhook body, an earlier block's output) is never
scanned, so ``{{NAME}}`` in data is sent as written.

Besides the author's placeholders, a block may read secrets that its code names: the
defaults of the tools it runs (``slack``'s ``{{SLACK_WEBHOOK_URL}}``) and, for a model
block without ``apiKey``, its provider's default key. The union over a deployment's
workflows is what each handler's IAM role may read (exact parameter ARNs).
"""

from __future__ import annotations

from typing import Any

from stepweave.refs import find_refs
from stepweave.runtime.secrets import PLACEHOLDER, placeholder_name

__all__ = ["SecretPlan", "plan_secrets", "template_parts", "literal_credentials"]

Path = list[str | int]
_MODEL_BLOCKS = frozenset({"agent", "router", "evaluator"})


class SecretPlan:
    """The templated params of one block, where the templates are and the names read."""

    def __init__(self, params: Any, at: list[Path], names: set[str],
                 written: set[str] | None = None) -> None:
        self.params = params
        self.at = at
        self.names = names
        #: the names the author wrote (the rest are defaults of tools and model providers)
        self.written = set(names) if written is None else written

    def event_field(self) -> dict[str, Any] | None:
        """``BlockEvent.secrets`` (None when the block reads no secret)."""
        if not self.names:
            return None
        out: dict[str, Any] = {"names": sorted(self.names)}
        if self.at:
            out["at"] = self.at
        return out


def template_parts(text: str) -> list[str] | None:
    """``text`` split as ``[text, NAME, text, ...]``, or None without a secret placeholder."""
    parts: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(text):
        name = placeholder_name(match.group(1))
        if name is None:
            continue
        parts += [text[last:match.start()], name]
        last = match.end()
    if not parts:
        return None
    return [*parts, text[last:]]


def plan_secrets(block_type: str, params: dict[str, Any]) -> SecretPlan:
    """Templates for every author-written placeholder in ``params`` (walked iteratively)."""
    out: dict[str, Any] = dict(params)
    at: list[Path] = []
    names: set[str] = set()
    stack: list[tuple[Any, str | int, Path]] = [(out, key, [key]) for key in list(out)]
    while stack:
        parent, key, path = stack.pop()
        value = parent[key]
        if isinstance(value, str):
            parts = template_parts(value)
            if parts is not None:
                parent[key] = parts
                at.append(path)
                names.update(parts[1::2])
        elif isinstance(value, dict):
            copied = dict(value)
            parent[key] = copied
            stack.extend((copied, k, [*path, k]) for k in list(copied))
        elif isinstance(value, list):
            copied_list = list(value)
            parent[key] = copied_list
            stack.extend((copied_list, i, [*path, i]) for i in range(len(copied_list)))
    written = set(names)
    names |= code_secrets(block_type, params)
    return SecretPlan(out, sorted(at, key=lambda p: [str(s) for s in p]), names, written)


def code_secrets(block_type: str, params: dict[str, Any]) -> set[str]:
    """Secrets the block's own code may read: tool defaults and default model keys."""
    names: set[str] = set()
    for tool in _tools_of(block_type, params):
        names |= _tool_default_secrets(tool)
    if block_type in _MODEL_BLOCKS:
        names |= _default_key(params)
    return names


def _tools_of(block_type: str, params: dict[str, Any]) -> list[str]:
    if block_type == "tool":
        specs: Any = [params]
    elif block_type == "agent":
        specs = params.get("tools") or []
    elif block_type == "approval":
        specs = params.get("notify") or []
    else:
        return []
    if not isinstance(specs, list):
        return []
    return [spec["tool"] for spec in specs if isinstance(spec, dict) and isinstance(spec.get("tool"), str)]


def literal_credentials(block_type: str, params: dict[str, Any]) -> list[tuple[Path, str]]:
    """Credential params (``Tool.credentials``: an integration's API key, tokens) that hold a
    literal value rather than a ``{{SECRET}}`` or a reference: (param path, the secret the
    tool would read by default). Such a value would be written into the definition."""
    from stepweave.tools import TOOLS

    entries: list[tuple[Path, Any]] = []
    if block_type == "tool":
        entries = [([], params)]
    elif block_type in ("agent", "approval"):
        key = "tools" if block_type == "agent" else "notify"
        specs = params.get(key)
        if isinstance(specs, list):
            entries = [([key, i], spec) for i, spec in enumerate(specs)]
    found: list[tuple[Path, str]] = []
    for prefix, spec in entries:
        name = spec.get("tool") if isinstance(spec, dict) else None
        tool = TOOLS.get(name) if isinstance(name, str) else None
        given = spec.get("params") if isinstance(spec, dict) else None
        if tool is None or not isinstance(given, dict):
            continue
        for param in tool.credentials:
            value = given.get(param)
            if isinstance(value, str) and value.strip() and template_parts(value) is None \
                    and not find_refs(value):
                default = tool.params.model_fields[param].default
                found.append(([*prefix, "params", param], str(default or "{{NAME}}")))
    return found


def _tool_default_secrets(name: str) -> set[str]:
    from stepweave.tools import TOOLS

    tool = TOOLS.get(name)
    if tool is None:
        return set()
    found: set[str] = set()
    for field in tool.params.model_fields.values():
        if isinstance(field.default, str):
            parts = template_parts(field.default)
            if parts is not None:
                found.update(parts[1::2])
    return found


def _default_key(params: dict[str, Any]) -> set[str]:
    """The provider's default key secret when ``apiKey`` is not given (every provider's
    when the model is known at run time only)."""
    from stepweave.ai.providers import DEFAULT_KEY_SECRETS, provider_for
    from stepweave.errors import BlockInputError

    api_key = params.get("apiKey")
    if isinstance(api_key, str) and api_key.strip():
        return set()
    model, provider, base_url = params.get("model"), params.get("provider"), params.get("baseUrl")
    texts = [v for v in (model, provider, base_url) if isinstance(v, str)]
    if isinstance(model, str) and not any(find_refs(t) for t in texts):
        try:
            name = provider_for(model, provider if isinstance(provider, str) else None,
                                base_url if isinstance(base_url, str) else None)
        except BlockInputError:
            return set()
        key = DEFAULT_KEY_SECRETS.get(name)
        return {key} if key else set()
    return set(DEFAULT_KEY_SECRETS.values())
