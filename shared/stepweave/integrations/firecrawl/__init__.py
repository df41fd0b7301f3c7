"""Firecrawl API v2 (https://docs.firecrawl.dev/api-reference/introduction)."""

PROVIDER = {
    "title": "Firecrawl",
    "base_url": "https://api.firecrawl.dev/v2",
    "auth": {"type": "bearer", "param": "apiKey", "secret": "FIRECRAWL_API_KEY"},
    "error_message": ["error", "message"],
    "docs": "https://docs.firecrawl.dev/api-reference/introduction",
}
