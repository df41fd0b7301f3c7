"""Update one record's fields (the others are kept)."""

OPERATION = {
    "description": "Update fields of one Airtable record.",
    "params": {
        "recordId": {"required": True, "description": "the record id (rec...)"},
        "fields": {"type": "any", "required": True, "description": "the fields to change"},
        "typecast": {"type": "boolean"},
    },
    "request": {
        "method": "PATCH",
        "path": "/{baseId}/{tableId}/{recordId}",
        "body": {"fields": "{fields|json}", "typecast": "{typecast}"},
    },
    "output": {"id": "id", "createdTime": "createdTime", "fields": "fields"},
    "sim": {"blocks": ["airtable"], "operations": ["update"],
            "tools": ["airtable_update", "airtable_update_record"]},
}
