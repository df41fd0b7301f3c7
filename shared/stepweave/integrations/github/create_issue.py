"""Open an issue."""

OPERATION = {
    "description": "Create an issue in a GitHub repository.",
    "params": {
        "title": {"required": True},
        "body": {},
        "labels": {"type": "any", "description": "label names (a list or comma-separated)"},
        "assignees": {"type": "any", "description": "logins (a list or comma-separated)"},
    },
    "request": {"method": "POST", "path": "/repos/{owner}/{repo}/issues",
                "body": {"title": "{title}", "body": "{body}", "labels": "{labels|csv}",
                         "assignees": "{assignees|csv}"}},
    "output": {"id": "id", "number": "number", "html_url": "html_url", "state": "state",
               "title": "title"},
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_create_issue"], "tools": ["github_create_issue", "github_create_issue_v2"]},
}
