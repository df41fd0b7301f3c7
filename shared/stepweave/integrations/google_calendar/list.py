"""List events, expanded into single occurrences and ordered by start time."""

OPERATION = {
    "description": "List events of a Google Calendar between two times.",
    "params": {
        "timeMin": {"description": "RFC 3339 start of the window, e.g. 2026-01-01T00:00:00Z"},
        "timeMax": {"description": "RFC 3339 end of the window"},
        "q": {"description": "free-text search in the events"},
        "maxResults": {"type": "integer", "description": "events per page (at most 2500)"},
        "maxPages": {"type": "integer", "default": 5, "model": False},
    },
    "request": {
        "method": "GET",
        "path": "/calendars/{calendarId}/events",
        "query": {"timeMin": "{timeMin|nonempty}", "timeMax": "{timeMax|nonempty}",
                  "q": "{q|nonempty}", "maxResults": "{maxResults}", "singleEvents": "true",
                  "orderBy": "startTime"},
    },
    "pagination": {"items": "items", "next": "nextPageToken", "send": "query.pageToken",
                   "max_pages_param": "maxPages"},
    "output": {"events": "items", "count": "items|count", "timeZone": "timeZone"},
    "sim": {"blocks": ["google_calendar", "google_calendar_v2"], "operations": ["list"],
            "tools": ["google_calendar_list", "google_calendar_list_v2"]},
}
