"""Mistral's API (https://docs.mistral.ai/api): an API key as a bearer token."""

PROVIDER = {
    "title": "Mistral",
    "base_url": "https://api.mistral.ai/v1",
    "auth": {"type": "bearer", "param": "apiKey", "secret": "MISTRAL_API_KEY"},
    "error_message": ["message", "detail.0.msg", "detail", "error"],
    "docs": "https://docs.mistral.ai/api/#tag/ocr",
}
