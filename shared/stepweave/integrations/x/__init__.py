"""X API v2 (https://docs.x.com/x-api): an app's bearer token (reading) or a user's OAuth2
token, refreshed from ``X_REFRESH_TOKEN`` (posting)."""

PROVIDER = {
    "title": "X",
    "base_url": "https://api.x.com/2",
    "auth": {"type": "oauth2", "token_url": "https://api.x.com/2/oauth2/token",
             "access_secret": "X_BEARER_TOKEN", "refresh_secret": "X_REFRESH_TOKEN",
             "client_id_secret": "X_CLIENT_ID", "client_secret_secret": "X_CLIENT_SECRET",
             "client_auth": "basic"},
    "error_message": ["detail", "errors.0.message", "title", "error_description"],
    "docs": "https://docs.x.com/x-api/introduction",
}
