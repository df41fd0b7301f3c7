"""Select rows with PostgREST filters (``status=eq.open&amount=gt.10``)."""

OPERATION = {
    "description": "Query rows of a Supabase table (PostgREST filters, order, limit).",
    "params": {
        "select": {"default": "*", "description": "columns, PostgREST syntax"},
        "filter": {"description": "PostgREST filters, e.g. status=eq.open&amount=gt.10"},
        "orderBy": {"description": "a column, optionally '.desc', e.g. created_at.desc"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
    },
    "request": {
        "method": "GET",
        "path": "/{table}?{filter|raw}",
        "query": {"select": "{select}", "order": "{orderBy|nonempty}", "limit": "{limit}",
                  "offset": "{offset}"},
    },
    "output": {"results": "$", "count": "$|count"},
    "sim": {"blocks": ["supabase"], "operations": ["query"], "tools": ["supabase_query"]},
}
