"""Create an issue in a team (the ``issueCreate`` mutation)."""

OPERATION = {
    "description": "Create an issue in Linear.",
    "params": {
        "teamId": {"required": True, "description": "the team's id (UUID)",
                   "sim": ["teamId", "manualTeamId"]},
        "title": {"required": True},
        "description": {"description": "markdown"},
        "projectId": {"description": "a project's id", "sim": ["projectId", "manualProjectId"]},
        "priority": {"type": "integer",
                     "description": "0 none, 1 urgent, 2 high, 3 normal, 4 low"},
        "assigneeId": {},
        "stateId": {"description": "a workflow state's id"},
    },
    "request": {
        "method": "POST",
        "path": "/graphql",
        "body": {
            "query": "mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: "
                     "$input) { success issue { id identifier title url priority "
                     "state { name } } } }",
            "variables": {"input": {
                "teamId": "{teamId}", "title": "{title}", "description": "{description}",
                "projectId": "{projectId|nonempty}", "priority": "{priority}",
                "assigneeId": "{assigneeId|nonempty}", "stateId": "{stateId|nonempty}"}},
        },
    },
    "ok": "data.issueCreate.success",
    "output": {"issue": "data.issueCreate.issue", "id": "data.issueCreate.issue.id",
               "identifier": "data.issueCreate.issue.identifier",
               "url": "data.issueCreate.issue.url"},
    "sim": {"blocks": ["linear"], "operations": ["linear_create_issue"],
            "tools": ["linear_create_issue"]},
}
