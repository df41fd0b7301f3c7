"""The blocks' contracts: each block type's params (pydantic models) and the output fields
they add. Below the AI code, the blocks' handlers and the catalog, all of which import it;
above the tool registry (``stepweave.tools``), which the tool and agent params are checked
against. Nothing here calls a model, a tool or a service.
"""
