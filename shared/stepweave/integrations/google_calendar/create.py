"""Create an event; attendees get Google's invitation when sendUpdates says so."""

OPERATION = {
    "description": "Create an event in a Google Calendar.",
    "params": {
        "summary": {"required": True, "description": "the event title"},
        "description": {"description": "the event description"},
        "location": {},
        "startDateTime": {"required": True, "description": "RFC 3339 start"},
        "endDateTime": {"required": True, "description": "RFC 3339 end"},
        "timeZone": {"description": "IANA time zone, e.g. Europe/Paris"},
        "attendees": {"type": "any", "description": "email addresses (a list or comma-separated)"},
        "sendUpdates": {"enum": ["all", "externalOnly", "none"], "default": "none",
                        "model": False},
    },
    "request": {
        "method": "POST",
        "path": "/calendars/{calendarId}/events",
        "query": {"sendUpdates": "{sendUpdates}"},
        "body": {
            "summary": "{summary}",
            "description": "{description}",
            "location": "{location}",
            "start": {"dateTime": "{startDateTime}", "timeZone": "{timeZone}"},
            "end": {"dateTime": "{endDateTime}", "timeZone": "{timeZone}"},
            "attendees": "{attendees|csv|email_objects}",
        },
    },
    "output": {"id": "id", "htmlLink": "htmlLink", "status": "status", "summary": "summary",
               "start": "start", "end": "end", "attendees": "attendees"},
    "sim": {"blocks": ["google_calendar", "google_calendar_v2"], "operations": ["create"],
            "tools": ["google_calendar_create", "google_calendar_create_v2"]},
}
