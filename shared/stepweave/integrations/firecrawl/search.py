"""Search the web; each result with its title, URL and description."""

OPERATION = {
    "description": "Search the web with Firecrawl.",
    "params": {
        "query": {"required": True},
        "limit": {"type": "integer", "description": "results (default 5)"},
        "tbs": {"description": "time filter, e.g. qdr:d (past day)"},
        "location": {},
    },
    "request": {
        "method": "POST",
        "path": "/search",
        "body": {"query": "{query}", "limit": "{limit}", "tbs": "{tbs|nonempty}",
                 "location": "{location|nonempty}"},
    },
    "ok": "success",
    "output": {"data": "data", "web": "data.web", "creditsUsed": "creditsUsed"},
    "sim": {"blocks": ["firecrawl"], "operations": ["search"], "tools": ["firecrawl_search"]},
}
