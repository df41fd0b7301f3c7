"""List pull requests, every page up to maxPages."""

OPERATION = {
    "description": "List pull requests of a GitHub repository.",
    "params": {
        "state": {"enum": ["open", "closed", "all"], "default": "open"},
        "per_page": {"type": "integer", "default": 30},
        "maxPages": {"type": "integer", "default": 3, "model": False},
    },
    "request": {"method": "GET", "path": "/repos/{owner}/{repo}/pulls",
                "query": {"state": "{state}", "per_page": "{per_page}"}},
    "pagination": {"items": "$", "next": "$link", "max_pages_param": "maxPages"},
    "output": {"pullRequests": {"$each": "$", "$fields": {
        "number": "number", "title": "title", "state": "state", "html_url": "html_url",
        "user": "user.login", "head": "head.ref", "base": "base.ref", "draft": "draft"}},
        "count": "$|count"},
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_list_prs"], "tools": ["github_list_prs", "github_list_prs_v2"]},
}
