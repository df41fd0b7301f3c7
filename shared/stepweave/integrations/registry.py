"""The integration operations as registry tools.

Each ``stepweave/integrations/<provider>/`` package declares ``PROVIDER`` in its
``__init__.py``; each of its other modules, ``<operation>.py``, declares one ``OPERATION``.
The tool's name is ``<provider>_<operation>`` (``notion_create_page``). Modules are found
by listing the folders (cheap) and imported, checked and turned into a ``Tool`` only when
that tool is first used, so a handler pays for the integration it runs and no other.

The tool's params model is generated from the declaration: the operation's params, the
provider's, the credentials its auth needs (each defaulting to its ``{{SECRET}}``, never
supplied by a model) and ``baseUrl`` (and ``tokenUrl`` for OAuth2) for proxies, enterprise
hosts and test servers.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, create_model

from stepweave.errors import StepweaveError
from stepweave.integrations.spec import Operation, OperationSpec, ParamSpec, ProviderSpec
from stepweave.integrations.template import HELPERS, template_names
from stepweave.tools.base import Tool, ToolContext, ToolParams

__all__ = ["BadDeclaration", "operation_index", "load_operation", "operations",
           "integration_tool"]

_ROOT = Path(__file__).resolve().parent
_PACKAGE = "stepweave.integrations"


class BadDeclaration(StepweaveError):
    """An integration module whose declaration is not valid (names the module and field)."""


@cache
def operation_index() -> dict[str, tuple[str, str]]:
    """Tool name -> (provider package, operation module), from the folders (nothing imported)."""
    index: dict[str, tuple[str, str]] = {}
    for folder in sorted(p for p in _ROOT.iterdir() if (p / "__init__.py").is_file()):
        for module in sorted(folder.glob("*.py")):
            if module.stem != "__init__":
                index[f"{folder.name}_{module.stem}"] = (folder.name, module.stem)
    return index


def _checked(model: type[Any], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise BadDeclaration(f"{where}: {problems}") from None


@cache
def _provider(provider_id: str) -> ProviderSpec:
    module = importlib.import_module(f"{_PACKAGE}.{provider_id}")
    spec: ProviderSpec = _checked(ProviderSpec, getattr(module, "PROVIDER", None),
                                  f"{_PACKAGE}.{provider_id}.PROVIDER")
    return spec


@cache
def load_operation(name: str) -> Operation:
    """The checked declaration of one operation (``KeyError`` for an unknown name)."""
    provider_id, operation_id = operation_index()[name]
    where = f"{_PACKAGE}.{provider_id}.{operation_id}.OPERATION"
    module = importlib.import_module(f"{_PACKAGE}.{provider_id}.{operation_id}")
    spec: OperationSpec = _checked(OperationSpec, getattr(module, "OPERATION", None), where)
    operation = Operation(name, provider_id, operation_id, _provider(provider_id), spec)
    _check_names(operation, where)
    return operation


def _check_names(operation: Operation, where: str) -> None:
    known = set(operation.params()) | {"item"}
    spec = operation.spec
    used = template_names([spec.request.model_dump(), operation.provider.base_url,
                           operation.provider.headers,
                           spec.expand.request.model_dump() if spec.expand else None])
    unknown = sorted(used - known)
    if unknown:
        raise BadDeclaration(f"{where}: the request names unknown params: {', '.join(unknown)}")
    calls = _calls(spec.request.body) - set(HELPERS)
    if calls:
        raise BadDeclaration(f"{where}: unknown helpers: {', '.join(sorted(calls))}")


def _calls(template: Any) -> set[str]:
    if isinstance(template, dict):
        found = {str(template["$call"])} if "$call" in template else set()
        for value in template.values():
            found |= _calls(value)
        return found
    if isinstance(template, list):
        return set().union(*(_calls(v) for v in template)) if template else set()
    return set()


def operations() -> list[Operation]:
    """Every operation, loaded (for the catalogue and the importer's lookups)."""
    return [load_operation(name) for name in operation_index()]


_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                          "object": dict[str, Any], "any": Any}


def _annotation(param: ParamSpec) -> Any:
    if param.enum:
        return Literal[tuple(param.enum)]
    if param.type == "array":
        return list[_TYPES.get(param.items or "any", Any)]  # type: ignore[misc]
    return _TYPES[param.type]


def _params_model(operation: Operation) -> type[ToolParams]:
    fields: dict[str, Any] = {}
    for name, param in operation.params().items():
        annotation = _annotation(param)
        if param.secret:
            fields[name] = (str | None, Field(default="{{" + param.secret + "}}",
                                              description=param.description))
        elif param.required:
            fields[name] = (annotation, Field(description=param.description))
        else:
            fields[name] = (annotation | None, Field(default=param.default,
                                                     description=param.description))
    title = "".join(part.title() for part in operation.name.split("_")) + "Params"
    model: type[ToolParams] = create_model(title, __base__=ToolParams, **fields)
    return model


def _runner(operation: Operation) -> Any:
    def run(params: Any, ctx: ToolContext) -> dict[str, Any]:
        from stepweave.integrations.executor import run_operation

        return run_operation(operation, params, ctx)

    return run


@cache
def integration_tool(name: str) -> Tool | None:
    """The registry tool of an integration operation, or None."""
    if name not in operation_index():
        return None
    operation = load_operation(name)
    spec = operation.spec
    params = operation.params()
    aliases = tuple((sim, ours) for ours, p in params.items() for sim in p.sim)
    return Tool(
        name=name,
        description=spec.description,
        params=_params_model(operation),
        output_schema={"type": "object", "properties": {k: {} for k in spec.output}},
        run=_runner(operation),
        secrets=tuple(operation.secrets()),
        # a Sim block without an operation dropdown stands for this one operation
        sim_types=tuple(spec.sim.tools) + (tuple(spec.sim.blocks) if not spec.sim.operations
                                           else ()),
        model_params=tuple(n for n, p in params.items() if p.model and not p.secret),
        sim_operations=tuple((b, o) for b in spec.sim.blocks for o in spec.sim.operations),
        sim_params=aliases,
        credentials=tuple(n for n, p in params.items() if p.secret),
    )
