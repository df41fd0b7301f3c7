"""Recent posts (the last 7 days) matching a query, with their authors."""

OPERATION = {
    "description": "Search recent posts on X (the last 7 days).",
    "params": {
        "query": {"required": True, "description": "an X search query"},
        "maxResults": {"type": "integer", "default": 10, "description": "10 to 100"},
        "sortOrder": {"enum": ["recency", "relevancy"]},
        "startTime": {"description": "RFC 3339"},
        "endTime": {"description": "RFC 3339"},
        "nextToken": {"description": "the next page's token from a previous search"},
    },
    "request": {
        "method": "GET",
        "path": "/tweets/search/recent",
        "query": {"query": "{query}", "max_results": "{maxResults}",
                  "sort_order": "{sortOrder}", "start_time": "{startTime|nonempty}",
                  "end_time": "{endTime|nonempty}", "next_token": "{nextToken|nonempty}",
                  "tweet.fields": "created_at,author_id,public_metrics,conversation_id,lang",
                  "expansions": "author_id", "user.fields": "name,username,verified"},
    },
    "output": {"tweets": "data", "users": "includes.users", "resultCount": "meta.result_count",
               "nextToken": "meta.next_token"},
    "sim": {"blocks": ["x"], "operations": ["x_search_tweets"], "tools": ["x_search"]},
}
