"""List releases, newest first."""

OPERATION = {
    "description": "List releases of a GitHub repository.",
    "params": {"per_page": {"type": "integer", "default": 10}},
    "request": {"method": "GET", "path": "/repos/{owner}/{repo}/releases",
                "query": {"per_page": "{per_page}"}},
    "output": {"releases": {"$each": "$", "$fields": {
        "id": "id", "tag_name": "tag_name", "name": "name", "html_url": "html_url",
        "published_at": "published_at", "body": "body", "draft": "draft",
        "prerelease": "prerelease"}}},
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_list_releases"], "tools": ["github_list_releases", "github_list_releases_v2"]},
}
