"""Notion's REST API (https://developers.notion.com/reference): an integration token
(``NOTION_TOKEN``) or an OAuth access token, as a bearer token."""

PROVIDER = {
    "title": "Notion",
    "base_url": "https://api.notion.com/v1",
    "headers": {"Notion-Version": "2022-06-28"},
    "auth": {"type": "bearer", "param": "accessToken", "secret": "NOTION_TOKEN"},
    "error_message": ["message"],
    "docs": "https://developers.notion.com/reference/intro",
}
