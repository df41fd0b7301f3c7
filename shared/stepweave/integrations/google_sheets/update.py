"""Write values over a range of cells."""

OPERATION = {
    "description": "Update cell values in a Google Sheets range.",
    "params": {
        "values": {"type": "any", "required": True,
                   "description": "rows: a list of lists, a list of objects (header row "
                                  "first), or one row"},
        "valueInputOption": {"default": "USER_ENTERED", "enum": ["USER_ENTERED", "RAW"],
                             "model": False},
    },
    "request": {
        "method": "PUT",
        "path": "/spreadsheets/{spreadsheetId}/values/{sheetName}{cellRange|a1_cells}",
        "query": {"valueInputOption": "{valueInputOption}"},
        "body": {"values": "{values|rows}"},
    },
    "output": {
        "updatedRange": "updatedRange",
        "updatedRows": "updatedRows",
        "updatedColumns": "updatedColumns",
        "updatedCells": "updatedCells",
    },
    "sim": {"blocks": ["google_sheets", "google_sheets_v2"], "operations": ["update", "write"],
            "tools": ["google_sheets_update", "google_sheets_update_v2", "google_sheets_write",
                      "google_sheets_write_v2"]},
}
