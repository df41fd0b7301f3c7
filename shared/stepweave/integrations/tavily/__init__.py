"""Tavily's search API (https://docs.tavily.com/documentation/api-reference)."""

PROVIDER = {
    "title": "Tavily",
    "base_url": "https://api.tavily.com",
    "auth": {"type": "bearer", "param": "apiKey", "secret": "TAVILY_API_KEY"},
    "error_message": ["detail.error", "detail", "error", "message"],
    "docs": "https://docs.tavily.com/documentation/api-reference/endpoint/search",
}
