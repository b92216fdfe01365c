"""Identity and sessions: OIDC login, bearer validation, the session store."""
