"""Google's OAuth2 client, shared by the Google providers (plain data): an access token
(``GOOGLE_ACCESS_TOKEN``) or one obtained from ``GOOGLE_REFRESH_TOKEN`` with the OAuth
client ``GOOGLE_CLIENT_ID`` / ``GOOGLE_CLIENT_SECRET``."""

GOOGLE_AUTH = {
    "type": "oauth2",
    "token_url": "https://oauth2.googleapis.com/token",
    "access_secret": "GOOGLE_ACCESS_TOKEN",
    "refresh_secret": "GOOGLE_REFRESH_TOKEN",
    "client_id_secret": "GOOGLE_CLIENT_ID",
    "client_secret_secret": "GOOGLE_CLIENT_SECRET",
}
#: Google APIs' error answer: {"error": {"code", "message", "status"}}
GOOGLE_ERRORS = ["error.message", "error_description", "error"]
