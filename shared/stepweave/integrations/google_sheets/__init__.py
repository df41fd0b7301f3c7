"""Google Sheets API v4 (https://developers.google.com/sheets/api/reference/rest)."""

from stepweave.integrations._google import GOOGLE_AUTH, GOOGLE_ERRORS

PROVIDER = {
    "title": "Google Sheets",
    "base_url": "https://sheets.googleapis.com/v4",
    "auth": GOOGLE_AUTH,
    "error_message": GOOGLE_ERRORS,
    "docs": "https://developers.google.com/sheets/api/reference/rest",
    "params": {
        "spreadsheetId": {"required": True, "description": "the spreadsheet id",
                          "sim": ["spreadsheetId", "manualSpreadsheetId"]},
        "sheetName": {"default": "Sheet1", "description": "the sheet (tab) name",
                      "sim": ["sheetName", "manualSheetName"]},
        "cellRange": {"description": "cells in A1 notation within the sheet, e.g. A1:D10",
                      "sim": ["cellRange", "range"]},
    },
}
