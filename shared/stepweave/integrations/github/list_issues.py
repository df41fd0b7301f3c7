"""List issues (and pull requests, which GitHub counts as issues), every page up to maxPages."""

OPERATION = {
    "description": "List issues of a GitHub repository.",
    "params": {
        "state": {"enum": ["open", "closed", "all"], "default": "open"},
        "labels": {"description": "comma-separated label names"},
        "per_page": {"type": "integer", "default": 30, "sim": ["per_page", "perPage"]},
        "maxPages": {"type": "integer", "default": 3, "model": False},
    },
    "request": {"method": "GET", "path": "/repos/{owner}/{repo}/issues",
                "query": {"state": "{state}", "labels": "{labels|nonempty}",
                          "per_page": "{per_page}"}},
    "pagination": {"items": "$", "next": "$link", "max_pages_param": "maxPages"},
    "output": {"issues": {"$each": "$", "$fields": {
        "number": "number", "title": "title", "state": "state", "html_url": "html_url",
        "user": "user.login", "labels": "labels.*.name", "body": "body",
        "created_at": "created_at", "is_pull_request": "pull_request.url"}},
        "count": "$|count"},
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_list_issues"], "tools": ["github_list_issues", "github_list_issues_v2"]},
}
