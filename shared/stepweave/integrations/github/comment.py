"""Comment on an issue or a pull request (its conversation)."""

OPERATION = {
    "description": "Comment on a GitHub issue or pull request.",
    "params": {
        "issueNumber": {"type": "integer", "required": True,
                        "sim": ["issueNumber", "issue_number", "pullNumber"]},
        "body": {"required": True},
    },
    "request": {"method": "POST", "path": "/repos/{owner}/{repo}/issues/{issueNumber}/comments",
                "body": {"body": "{body}"}},
    "output": {"id": "id", "html_url": "html_url", "body": "body", "created_at": "created_at"},
    # (Sim's github_comment may be a review comment on a file's line: not this one)
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_issue_comment"],
            "tools": ["github_issue_comment", "github_issue_comment_v2"]},
}
