"""Exa's search API (https://docs.exa.ai/reference)."""

PROVIDER = {
    "title": "Exa",
    "base_url": "https://api.exa.ai",
    "auth": {"type": "header", "name": "x-api-key", "param": "apiKey", "secret": "EXA_API_KEY"},
    "error_message": ["error", "message"],
    "docs": "https://docs.exa.ai/reference/search",
}
