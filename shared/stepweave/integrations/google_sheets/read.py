"""Read a range of cells."""

OPERATION = {
    "description": "Read cell values from a Google Sheets range.",
    "request": {"method": "GET",
                "path": "/spreadsheets/{spreadsheetId}/values/{sheetName}{cellRange|a1_cells}"},
    "output": {"range": "range", "values": "values", "majorDimension": "majorDimension"},
    "sim": {"blocks": ["google_sheets", "google_sheets_v2"], "operations": ["read"],
            "tools": ["google_sheets_read", "google_sheets_read_v2"]},
}
