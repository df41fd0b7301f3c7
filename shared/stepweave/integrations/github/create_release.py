"""Publish a release (or a draft) for a tag."""

OPERATION = {
    "description": "Create a GitHub release.",
    "params": {
        "tag_name": {"required": True, "sim": ["tag_name", "tagName"]},
        "name": {},
        "body": {"description": "release notes (markdown)"},
        "target_commitish": {"description": "branch or commit of a new tag"},
        "draft": {"type": "boolean", "default": False},
        "prerelease": {"type": "boolean", "default": False},
    },
    "request": {"method": "POST", "path": "/repos/{owner}/{repo}/releases",
                "body": {"tag_name": "{tag_name}", "name": "{name}", "body": "{body}",
                         "target_commitish": "{target_commitish|nonempty}", "draft": "{draft}",
                         "prerelease": "{prerelease}"}},
    "output": {"id": "id", "html_url": "html_url", "tag_name": "tag_name", "name": "name",
               "draft": "draft", "prerelease": "prerelease"},
    "sim": {"blocks": ["github", "github_v2"], "operations": ["github_create_release"], "tools": ["github_create_release", "github_create_release_v2"]},
}
