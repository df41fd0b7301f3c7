"""LinkedIn's API (https://learn.microsoft.com/linkedin/): a member's OAuth access token
(Sign In with LinkedIn: ``openid profile email``), as a bearer token."""

PROVIDER = {
    "title": "LinkedIn",
    "base_url": "https://api.linkedin.com",
    "auth": {"type": "bearer", "param": "accessToken", "secret": "LINKEDIN_ACCESS_TOKEN"},
    "error_message": ["message", "error_description", "error"],
    "docs": "https://learn.microsoft.com/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2",
}
