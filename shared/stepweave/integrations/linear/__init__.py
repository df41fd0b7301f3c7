"""Linear's GraphQL API (https://linear.app/developers/graphql): a personal API key in the
Authorization header (an OAuth token is written ``Bearer <token>``). Linear answers 200 with
``errors`` for a refused mutation."""

PROVIDER = {
    "title": "Linear",
    "base_url": "https://api.linear.app",
    "auth": {"type": "header", "name": "Authorization", "param": "apiKey",
             "secret": "LINEAR_API_KEY"},
    "error_message": ["errors.0.message", "message"],
    "docs": "https://linear.app/developers/graphql",
}
