"""Web search, with an optional short answer."""

OPERATION = {
    "description": "Search the web with Tavily.",
    "params": {
        "query": {"required": True},
        "max_results": {"type": "integer", "default": 5, "sim": ["max_results", "maxResults"]},
        "topic": {"enum": ["general", "news", "finance"]},
        "search_depth": {"enum": ["basic", "advanced"]},
        "include_answer": {"type": "boolean"},
    },
    "request": {
        "method": "POST",
        "path": "/search",
        "body": {"query": "{query}", "max_results": "{max_results}", "topic": "{topic}",
                 "search_depth": "{search_depth}", "include_answer": "{include_answer}"},
    },
    "output": {"query": "query", "answer": "answer", "results": {"$each": "results", "$fields": {
        "title": "title", "url": "url", "content": "content", "score": "score"}}},
    "sim": {"blocks": ["tavily"], "operations": ["tavily_search"], "tools": ["tavily_search"]},
}
