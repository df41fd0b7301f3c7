"""Send an email (a MIME message built from the params)."""

OPERATION = {
    "description": "Send an email from Gmail.",
    "params": {
        "to": {"type": "any", "required": True, "description": "recipient address(es)"},
        "subject": {"required": True},
        "body": {"required": True, "description": "the message text (or HTML)"},
        "contentType": {"enum": ["text", "html"], "default": "text"},
        "cc": {"type": "any"},
        "bcc": {"type": "any"},
        "threadId": {"description": "reply within this thread"},
        "replyToMessageId": {"description": "the Message-ID header this replies to"},
    },
    "request": {
        "method": "POST",
        "path": "/users/me/messages/send",
        "body": {
            "raw": {"$call": "mime_message", "args": {
                "to": "{to}", "cc": "{cc}", "bcc": "{bcc}", "subject": "{subject}",
                "body": "{body}", "contentType": "{contentType}",
                "inReplyTo": "{replyToMessageId}"}},
            "threadId": "{threadId|nonempty}",
        },
    },
    "output": {"id": "id", "threadId": "threadId", "labelIds": "labelIds"},
    "sim": {"blocks": ["gmail", "gmail_v2"], "operations": ["send_gmail"],
            "tools": ["gmail_send", "gmail_send_v2"]},
}
