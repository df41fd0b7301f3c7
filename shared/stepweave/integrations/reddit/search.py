"""Search posts in a subreddit (``all``: everywhere)."""

_POST = {"id": "data.id", "title": "data.title", "author": "data.author",
         "subreddit": "data.subreddit", "url": "data.url", "permalink": "data.permalink",
         "score": "data.score", "num_comments": "data.num_comments",
         "created_utc": "data.created_utc", "selftext": "data.selftext"}

OPERATION = {
    "description": "Search Reddit posts (in one subreddit, or 'all').",
    "params": {
        "query": {"required": True, "sim": ["searchQuery", "query"]},
        "subreddit": {"default": "all", "description": "a subreddit name, or 'all'"},
        "sort": {"enum": ["relevance", "hot", "top", "new", "comments"], "default": "relevance",
                 "sim": ["searchSort"]},
        "time": {"enum": ["hour", "day", "week", "month", "year", "all"], "sim": ["searchTime"]},
        "limit": {"type": "integer", "default": 10, "description": "posts per page (at most 100)",
                  "sim": ["searchLimit"]},
        "maxPages": {"type": "integer", "default": 1, "model": False},
    },
    "request": {
        "method": "GET",
        "path": "/r/{subreddit}/search",
        "query": {"q": "{query}", "sort": "{sort}", "t": "{time}", "limit": "{limit}",
                  "restrict_sr": "true", "raw_json": "1"},
    },
    "pagination": {"items": "data.children", "next": "data.after", "send": "query.after",
                   "max_pages_param": "maxPages"},
    "output": {"posts": {"$each": "data.children", "$fields": _POST}},
    "sim": {"blocks": ["reddit"], "operations": ["search"], "tools": ["reddit_search"]},
}
