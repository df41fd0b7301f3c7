"""Change an issue's title, body, state (close or reopen), labels or assignees."""

OPERATION = {
    "description": "Update (or close) a GitHub issue.",
    "params": {
        "issueNumber": {"type": "integer", "required": True, "sim": ["issue_number", "issueNumber"]},
        "title": {},
        "body": {},
        "state": {"enum": ["open", "closed"]},
        "labels": {"type": "any", "description": "label names (a list or comma-separated)"},
        "assignees": {"type": "any", "description": "logins (a list or comma-separated)"},
    },
    "request": {"method": "PATCH", "path": "/repos/{owner}/{repo}/issues/{issueNumber}",
                "body": {"title": "{title}", "body": "{body}", "state": "{state}",
                         "labels": "{labels|csv}", "assignees": "{assignees|csv}"}},
    "output": {"number": "number", "html_url": "html_url", "state": "state", "title": "title",
               "labels": "labels.*.name"},
    "sim": {"blocks": ["github", "github_v2"],
            "operations": ["github_update_issue", "github_close_issue"],
            "tools": ["github_update_issue", "github_update_issue_v2", "github_close_issue",
                      "github_close_issue_v2"]},
}
