"""Query a database: its pages, filtered and sorted, every page of results up to maxPages."""

OPERATION = {
    "description": "Query a Notion database: its entries (pages) matching a filter, sorted.",
    "params": {
        "databaseId": {"required": True, "description": "the database id",
                       "sim": ["databaseId", "databaseSelector"]},
        "filter": {"type": "any", "description": "a Notion filter object (or its JSON)"},
        "sorts": {"type": "any", "description": "a list of Notion sorts (or its JSON)"},
        "pageSize": {"type": "integer", "description": "entries per page (at most 100)"},
        "maxPages": {"type": "integer", "default": 5, "model": False,
                     "description": "pages of results to read at most"},
    },
    "request": {
        "method": "POST",
        "path": "/databases/{databaseId}/query",
        "body": {"filter": "{filter|json}", "sorts": "{sorts|json}", "page_size": "{pageSize}"},
    },
    "pagination": {"items": "results", "next": "next_cursor", "send": "body.start_cursor",
                   "more": "has_more", "max_pages_param": "maxPages"},
    "output": {
        "results": "results",
        "totalResults": "results|count",
        "hasMore": "has_more",
        "nextCursor": "next_cursor",
    },
    "sim": {"blocks": ["notion", "notion_v2"], "operations": ["notion_query_database"],
            "tools": ["notion_query_database", "notion_query_database_v2"]},
}
