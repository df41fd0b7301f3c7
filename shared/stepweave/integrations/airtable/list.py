"""List records of a table, every page (Airtable's offset) up to maxPages."""

OPERATION = {
    "description": "List records of an Airtable table, optionally filtered by a formula.",
    "params": {
        "maxRecords": {"type": "integer", "description": "records to return at most"},
        "filterFormula": {"description": "an Airtable formula, e.g. {Status} = 'Open'"},
        "view": {"description": "a view name or id"},
        "maxPages": {"type": "integer", "default": 5, "model": False},
    },
    "request": {
        "method": "GET",
        "path": "/{baseId}/{tableId}",
        "query": {"maxRecords": "{maxRecords}", "filterByFormula": "{filterFormula|nonempty}",
                  "view": "{view|nonempty}"},
    },
    "pagination": {"items": "records", "next": "offset", "send": "query.offset",
                   "max_pages_param": "maxPages"},
    "output": {"records": "records", "totalRecords": "records|count"},
    "sim": {"blocks": ["airtable"], "operations": ["list"],
            "tools": ["airtable_list", "airtable_list_records"]},
}
