"""Google Calendar API v3 (https://developers.google.com/calendar/api/v3/reference)."""

from stepweave.integrations._google import GOOGLE_AUTH, GOOGLE_ERRORS

PROVIDER = {
    "title": "Google Calendar",
    "base_url": "https://www.googleapis.com/calendar/v3",
    "auth": GOOGLE_AUTH,
    "error_message": GOOGLE_ERRORS,
    "docs": "https://developers.google.com/calendar/api/v3/reference",
    "params": {
        "calendarId": {"default": "primary", "description": "the calendar id",
                       "sim": ["calendarId", "manualCalendarId"]},
    },
}
