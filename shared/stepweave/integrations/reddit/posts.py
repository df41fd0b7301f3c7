"""A subreddit's posts: hot, new, top or rising."""

OPERATION = {
    "description": "Get posts from a subreddit (hot, new, top, rising).",
    "params": {
        "subreddit": {"required": True},
        "sort": {"enum": ["hot", "new", "top", "rising", "controversial"], "default": "hot"},
        "time": {"enum": ["hour", "day", "week", "month", "year", "all"],
                 "description": "for top and controversial"},
        "limit": {"type": "integer", "default": 10},
    },
    "request": {
        "method": "GET",
        "path": "/r/{subreddit}/{sort}",
        "query": {"t": "{time}", "limit": "{limit}", "raw_json": "1"},
    },
    "output": {
        "posts": {"$each": "data.children", "$fields": {
            "id": "data.id", "title": "data.title", "author": "data.author",
            "url": "data.url", "permalink": "data.permalink", "score": "data.score",
            "num_comments": "data.num_comments", "created_utc": "data.created_utc",
            "selftext": "data.selftext"}},
        "after": "data.after",
    },
    "sim": {"blocks": ["reddit"], "operations": ["get_posts"],
            "tools": ["reddit_get_posts", "reddit_hot_posts"]},
}
