"""Create a page under a parent page, with a title and text content (one paragraph block per
paragraph), or with the properties of a database entry."""

OPERATION = {
    "description": "Create a Notion page under a parent page (title and text content).",
    "params": {
        "parentId": {"required": True, "description": "the parent page id",
                     "sim": ["parentId", "parentSelector"]},
        "title": {"description": "the page title"},
        "content": {"description": "the page text; blank lines separate paragraphs"},
        "properties": {"type": "any",
                       "description": "page properties (instead of a title), as Notion's JSON"},
    },
    "request": {
        "method": "POST",
        "path": "/pages",
        "body": {
            "parent": {"type": "page_id", "page_id": "{parentId}"},
            "properties": {"$if": "properties", "$then": "{properties|json}",
                           "$else": {"$if": "title",
                                     "$then": {"title": {"type": "title", "title": {
                                         "$call": "notion_title", "args": {"text": "{title}"}}}},
                                     "$else": {"$value": {}}}},
            "children": {"$if": "content", "$then": {
                "$call": "notion_paragraphs", "args": {"text": "{content}"}}},
        },
    },
    "output": {
        "id": "id",
        "title": "properties.title.title.*.plain_text|join",
        "url": "url",
        "created_time": "created_time",
        "last_edited_time": "last_edited_time",
    },
    "sim": {"blocks": ["notion", "notion_v2"], "operations": ["notion_create_page"],
            "tools": ["notion_create_page", "notion_create_page_v2"]},
}
