"""Append text to a page (Sim's "Append Content"): one paragraph block per paragraph."""

OPERATION = {
    "description": "Append text content to a Notion page.",
    "params": {
        "pageId": {"required": True, "description": "the page id",
                   "sim": ["pageId", "pageSelector"]},
        "content": {"required": True, "description": "the text; blank lines separate paragraphs"},
    },
    "request": {
        "method": "PATCH",
        "path": "/blocks/{pageId}/children",
        "body": {"children": {"$call": "notion_paragraphs", "args": {"text": "{content}"}}},
    },
    "output": {"appended": "results|count", "blockIds": "results.*.id"},
    "sim": {"blocks": ["notion", "notion_v2"], "operations": ["notion_write"],
            "tools": ["notion_write", "notion_write_v2"]},
}
