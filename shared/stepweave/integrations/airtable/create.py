"""Create records (up to 10 per call, Airtable's limit)."""

OPERATION = {
    "description": "Create records in an Airtable table.",
    "params": {
        "records": {"type": "any", "required": True,
                    "description": "records: a list of {fields: {...}} (or of field objects)"},
        "typecast": {"type": "boolean", "description": "let Airtable convert values"},
    },
    "request": {
        "method": "POST",
        "path": "/{baseId}/{tableId}",
        "body": {"records": {"$call": "airtable_records", "args": {"records": "{records}"}},
                 "typecast": "{typecast}"},
    },
    "output": {"records": "records", "createdCount": "records|count"},
    "sim": {"blocks": ["airtable"], "operations": ["create"],
            "tools": ["airtable_create", "airtable_create_records"]},
}
