"""Sim's public API (https://docs.sim.ai/api-reference): a knowledge base kept in Sim
(sim.ai, or a self-hosted Sim through ``baseUrl``), read with a Sim API key."""

PROVIDER = {
    "title": "Sim",
    "base_url": "https://www.sim.ai/api/v2",
    # not ``apiKey``: Sim's Knowledge block has an ``apiKey`` of its own (its reranker's)
    "auth": {"type": "header", "name": "X-API-Key", "param": "simApiKey", "secret": "SIM_API_KEY"},
    "error_message": ["error.message", "error", "message"],
    "docs": "https://docs.sim.ai/api-reference",
    "params": {
        "workspaceId": {"required": True, "model": False,
                        "description": "the Sim workspace that owns the knowledge base"},
    },
}
