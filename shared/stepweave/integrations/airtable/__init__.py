"""Airtable's Web API (https://airtable.com/developers/web/api/introduction): a personal
access token or an OAuth access token, as a bearer token."""

PROVIDER = {
    "title": "Airtable",
    "base_url": "https://api.airtable.com/v0",
    "auth": {"type": "bearer", "param": "accessToken", "secret": "AIRTABLE_API_KEY"},
    "error_message": ["error.message", "error.type", "error"],
    "docs": "https://airtable.com/developers/web/api/introduction",
    "params": {
        "baseId": {"required": True, "description": "the base id (app...)",
                   "sim": ["baseId", "baseSelector"]},
        "tableId": {"required": True, "description": "the table id or name",
                    "sim": ["tableId", "tableSelector"]},
    },
}
