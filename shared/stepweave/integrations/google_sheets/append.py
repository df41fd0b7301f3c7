"""Append rows after the last row of a table."""

OPERATION = {
    "description": "Append rows to a Google Sheets table.",
    "params": {
        "values": {"type": "any", "required": True,
                   "description": "rows: a list of lists, a list of objects (header row "
                                  "first), or one row"},
        "valueInputOption": {"default": "USER_ENTERED", "enum": ["USER_ENTERED", "RAW"],
                             "model": False},
        "insertDataOption": {"default": "INSERT_ROWS", "enum": ["INSERT_ROWS", "OVERWRITE"],
                             "model": False},
    },
    "request": {
        "method": "POST",
        "path": "/spreadsheets/{spreadsheetId}/values/{sheetName}{cellRange|a1_cells}:append",
        "query": {"valueInputOption": "{valueInputOption}",
                  "insertDataOption": "{insertDataOption}"},
        "body": {"values": "{values|rows}"},
    },
    "output": {
        "tableRange": "tableRange",
        "updatedRange": "updates.updatedRange",
        "updatedRows": "updates.updatedRows",
        "updatedColumns": "updates.updatedColumns",
        "updatedCells": "updates.updatedCells",
    },
    "sim": {"blocks": ["google_sheets", "google_sheets_v2"], "operations": ["append"],
            "tools": ["google_sheets_append", "google_sheets_append_v2"]},
}
