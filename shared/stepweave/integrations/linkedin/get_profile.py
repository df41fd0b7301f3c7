"""The profile of the member whose token it is (OpenID userinfo)."""

OPERATION = {
    "description": "Get the LinkedIn profile of the connected member (name, email, picture).",
    "request": {"method": "GET", "path": "/v2/userinfo"},
    "output": {"profile": {"id": "sub", "name": "name", "email": "email", "picture": "picture",
                           "givenName": "given_name", "familyName": "family_name",
                           "locale": "locale"}},
    "sim": {"blocks": ["linkedin"], "operations": ["get_profile"],
            "tools": ["linkedin_get_profile"]},
}
