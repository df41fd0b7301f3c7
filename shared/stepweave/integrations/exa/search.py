"""Web search with each result's text."""

OPERATION = {
    "description": "Search the web with Exa (results with their text).",
    "params": {
        "query": {"required": True},
        "numResults": {"type": "integer", "default": 10},
        "type": {"enum": ["auto", "fast", "deep", "neural", "keyword"]},
        "includeDomains": {"type": "any", "description": "domains (a list or comma-separated)"},
        "excludeDomains": {"type": "any"},
        "category": {},
    },
    "request": {
        "method": "POST",
        "path": "/search",
        "body": {"query": "{query}", "numResults": "{numResults}", "type": "{type}",
                 "includeDomains": "{includeDomains|csv}", "excludeDomains": "{excludeDomains|csv}",
                 "category": "{category|nonempty}", "contents": {"text": True}},
    },
    "output": {"results": {"$each": "results", "$fields": {
        "title": "title", "url": "url", "publishedDate": "publishedDate", "author": "author",
        "text": "text", "score": "score"}}},
    "sim": {"blocks": ["exa"], "operations": ["exa_search"], "tools": ["exa_search"]},
}
