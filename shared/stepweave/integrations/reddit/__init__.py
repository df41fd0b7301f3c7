"""Reddit's OAuth API (https://www.reddit.com/dev/api): an app's client id and secret
(application-only access: reading) or a user's refresh token (posting, their subreddits).
Reddit requires a descriptive User-Agent."""

PROVIDER = {
    "title": "Reddit",
    "base_url": "https://oauth.reddit.com",
    "headers": {"User-Agent": "stepweave-integration/0.1"},
    "auth": {"type": "oauth2", "token_url": "https://www.reddit.com/api/v1/access_token",
             "access_secret": "REDDIT_ACCESS_TOKEN", "refresh_secret": "REDDIT_REFRESH_TOKEN",
             "client_id_secret": "REDDIT_CLIENT_ID", "client_secret_secret": "REDDIT_CLIENT_SECRET",
             "client_auth": "basic", "client_credentials": True},
    "error_message": ["message", "error", "explanation"],
    "docs": "https://www.reddit.com/dev/api",
}
