"""One pull request's details."""

OPERATION = {
    "description": "Get a GitHub pull request.",
    "params": {"pullNumber": {"type": "integer", "required": True, "sim": ["pullNumber", "pr_number"]}},
    "request": {"method": "GET", "path": "/repos/{owner}/{repo}/pulls/{pullNumber}"},
    "output": {"number": "number", "title": "title", "body": "body", "state": "state",
               "html_url": "html_url", "diff_url": "diff_url", "user": "user.login",
               "head": "head.ref", "base": "base.ref", "merged": "merged",
               "additions": "additions", "deletions": "deletions",
               "changed_files": "changed_files"},
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_pr"],
            "tools": ["github_pr", "github_pr_v2"]},
}
