"""Token check of the REST API.

Tokens come from settings `api.tokens` (several, so a new one can be rolled out before the
old one is removed). Every configured token is compared with `hmac.compare_digest`, all of
them every time, so the answer time does not tell how much of a token was right.

`/api/v1` takes `Authorization: Bearer <token>`. The 1C paths (`/api/...`) also take the
original extension's ways: a `token: <token>` header or an `apiKey=<token>` query value, so
an existing 1C extension only needs a token configured. A missing or wrong token answers
401; the token is never logged.
"""
from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["TokenCheck", "bearer", "token_header", "api_key_query"]

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api token>")
token_header = APIKeyHeader(name="token", auto_error=False,
                            description="the 1C extension's token header (/api paths only)")
api_key_query = APIKeyQuery(name="apiKey", auto_error=False,
                            description="the 1C extension's apiKey query value (/api paths only)")


class TokenCheck:
    """Holds the accepted tokens; `v1` and `legacy` are FastAPI dependencies."""

    def __init__(self, tokens: list[str]):
        self._tokens = [t.encode() for t in tokens if t]
        if not self._tokens:
            raise ValueError("api.tokens is empty")

    def valid(self, presented: str | None) -> bool:
        if not presented:
            return False
        given = presented.encode()
        matches = [hmac.compare_digest(given, token) for token in self._tokens]
        return any(matches)

    def _check(self, *presented: str | None) -> None:
        if not any(self.valid(p) for p in presented if p):
            raise HTTPException(401, "a valid API token is required",
                                headers={"WWW-Authenticate": "Bearer"})

    def allows(self, path: str, headers, query) -> bool:
        """The request-level check (middleware, before the body is even read): v1 takes
        Bearer only, the 1C paths also `token` and `apiKey`."""
        auth = headers.get("authorization") or ""
        scheme, _, credentials = auth.partition(" ")
        presented = [credentials.strip()] if scheme.lower() == "bearer" else []
        if not path.startswith("/api/v1"):
            presented += [headers.get("token"), query.get("apiKey")]
        return any(self.valid(p) for p in presented if p)

    def v1_dependency(self):
        def check(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
            self._check(credentials.credentials if credentials else None)
        return Depends(check)

    def legacy_dependency(self):
        def check(credentials: HTTPAuthorizationCredentials | None = Security(bearer),
                  token: str | None = Security(token_header),
                  api_key: str | None = Security(api_key_query)) -> None:
            self._check(credentials.credentials if credentials else None, token, api_key)
        return Depends(check)

