"""Gmail API v1 (https://developers.google.com/gmail/api/reference/rest), as the user whose
refresh token it is (``users/me``)."""

from stepweave.integrations._google import GOOGLE_AUTH, GOOGLE_ERRORS

PROVIDER = {
    "title": "Gmail",
    "base_url": "https://gmail.googleapis.com/gmail/v1",
    "auth": GOOGLE_AUTH,
    "error_message": GOOGLE_ERRORS,
    "docs": "https://developers.google.com/gmail/api/reference/rest",
}
