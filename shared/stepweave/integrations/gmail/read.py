"""Read one message: headers, text body, labels."""

OPERATION = {
    "description": "Read a Gmail message by id.",
    "params": {"messageId": {"required": True, "description": "the message id"}},
    "request": {"method": "GET", "path": "/users/me/messages/{messageId}",
                "query": {"format": "full"}},
    "output": {
        "id": "id", "threadId": "threadId", "labelIds": "labelIds", "snippet": "snippet",
        "subject": "payload.headers|headers_map|get:Subject",
        "from": "payload.headers|headers_map|get:From",
        "to": "payload.headers|headers_map|get:To",
        "date": "payload.headers|headers_map|get:Date",
        "body": "payload|gmail_body",
    },
    "sim": {"blocks": ["gmail", "gmail_v2"], "operations": ["read_gmail"],
            "tools": ["gmail_read", "gmail_read_v2"]},
}
