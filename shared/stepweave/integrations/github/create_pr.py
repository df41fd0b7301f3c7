"""Open a pull request from a branch."""

OPERATION = {
    "description": "Create a GitHub pull request.",
    "params": {
        "title": {"required": True},
        "head": {"required": True, "description": "the branch with the changes"},
        "base": {"required": True, "description": "the branch to merge into"},
        "body": {},
        "draft": {"type": "boolean", "default": False},
    },
    "request": {"method": "POST", "path": "/repos/{owner}/{repo}/pulls",
                "body": {"title": "{title}", "head": "{head}", "base": "{base}", "body": "{body}",
                         "draft": "{draft}"}},
    "output": {"id": "id", "number": "number", "html_url": "html_url", "state": "state",
               "title": "title", "draft": "draft"},
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_create_pr"],
            "tools": ["github_create_pr", "github_create_pr_v2"]},
}
