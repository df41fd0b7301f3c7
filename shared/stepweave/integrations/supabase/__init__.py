"""Supabase's REST API (PostgREST, https://supabase.com/docs/guides/api) of a project: the
project's API key (service role or anon) as ``apikey`` and bearer token."""

PROVIDER = {
    "title": "Supabase",
    "base_url": "https://{projectId}.supabase.co/rest/v1",
    "headers": {"Authorization": "Bearer {apiKey}"},
    "auth": {"type": "header", "name": "apikey", "param": "apiKey", "secret": "SUPABASE_API_KEY"},
    "error_message": ["message", "hint", "error"],
    "docs": "https://supabase.com/docs/guides/api",
    "params": {
        "projectId": {"required": True, "model": False,
                      "description": "the project reference (<ref>.supabase.co)"},
        "table": {"required": True, "description": "the table"},
    },
}
