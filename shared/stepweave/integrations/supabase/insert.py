"""Insert one row or several; the inserted rows come back."""

OPERATION = {
    "description": "Insert rows into a Supabase table.",
    "params": {
        "data": {"type": "any", "required": True,
                 "description": "a row object or a list of rows (or their JSON)"},
    },
    "request": {
        "method": "POST",
        "path": "/{table}",
        "headers": {"Prefer": "return=representation"},
        "body": "{data|json}",
    },
    "output": {"results": "$", "count": "$|count"},
    "sim": {"blocks": ["supabase"], "operations": ["insert"], "tools": ["supabase_insert"]},
}
