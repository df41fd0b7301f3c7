"""Post (as the user of the refresh token), optionally as a reply or a quote."""

OPERATION = {
    "description": "Post on X.",
    "params": {
        "text": {"required": True},
        "replyToTweetId": {"description": "reply to this post"},
        "quoteTweetId": {"description": "quote this post"},
    },
    "request": {
        "method": "POST",
        "path": "/tweets",
        "body": {"text": "{text}",
                 "reply": {"$if": "replyToTweetId",
                           "$then": {"in_reply_to_tweet_id": "{replyToTweetId}"}},
                 "quote_tweet_id": "{quoteTweetId|nonempty}"},
    },
    "output": {"id": "data.id", "text": "data.text"},
    "sim": {"blocks": ["x"], "operations": ["x_create_tweet"], "tools": ["x_write", "x_create_tweet"]},
}
