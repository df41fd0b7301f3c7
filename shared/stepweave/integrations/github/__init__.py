"""GitHub's REST API (https://docs.github.com/en/rest): a personal access token or an app's
installation token, as a bearer token. Lists follow the Link header's next page."""

PROVIDER = {
    "title": "GitHub",
    "base_url": "https://api.github.com",
    "headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "stepweave-integration"},
    "auth": {"type": "bearer", "param": "apiKey", "secret": "GITHUB_TOKEN"},
    "error_message": ["message"],
    "docs": "https://docs.github.com/en/rest",
    "params": {
        "owner": {"required": True, "description": "the repository owner"},
        "repo": {"required": True, "description": "the repository name"},
    },
}
