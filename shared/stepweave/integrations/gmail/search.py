"""Search messages with Gmail's query syntax, then read each one found."""

OPERATION = {
    "description": "Search Gmail messages (Gmail search syntax, e.g. 'from:ada is:unread').",
    "params": {
        "query": {"required": True, "description": "a Gmail search query",
                  "sim": ["query", "searchQuery"]},
        "maxResults": {"type": "integer", "default": 10,
                       "description": "messages to return (at most 25)"},
    },
    "request": {"method": "GET", "path": "/users/me/messages",
                "query": {"q": "{query}", "maxResults": "{maxResults}"}},
    "expand": {"items": "messages", "max_items": 25, "request": {
        "method": "GET", "path": "/users/me/messages/{item.id}", "query": {"format": "full"}}},
    "output": {
        "messages": {"$each": "messages", "$fields": {
            "id": "id", "threadId": "threadId", "snippet": "snippet", "labelIds": "labelIds",
            "subject": "payload.headers|headers_map|get:Subject",
            "from": "payload.headers|headers_map|get:From",
            "date": "payload.headers|headers_map|get:Date",
            "body": "payload|gmail_body"}},
        "resultSizeEstimate": "resultSizeEstimate",
    },
    "sim": {"blocks": ["gmail", "gmail_v2"], "operations": ["search_gmail"],
            "tools": ["gmail_search", "gmail_search_v2"]},
}
