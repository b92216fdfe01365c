"""Who may use ``/mcp``: the caller's OIDC bearer, per the MCP authorization spec.

Only ``Authorization: Bearer <access token>`` counts here (the same JWTs the
REST API takes); the session cookie is never read, so a page on another site
cannot drive a user's tools through their browser.  Without a bearer, or with
one that fails validation, the answer is 401 with ``WWW-Authenticate: Bearer
resource_metadata="<url>"`` (RFC 9728 section 5.1), which MCP clients follow
to find our identity provider and log the user in themselves.

``/.well-known/oauth-protected-resource`` (and ``.../mcp``, the form MCP clients
derive from the resource URL) answers the protected-resource metadata.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.dependencies import bearer_user
from core.errors import Unauthorized
from core.identity import User
from core.settings import Settings
from gateway.deps import AppSettings

# Where the authenticated caller travels to the tool handlers (the ASGI scope of the POST).
USER_SCOPE_KEY = "oscar_gateway.mcp_user"
METADATA_PATH = "/.well-known/oauth-protected-resource"

router = APIRouter(tags=["mcp"])


def resource_url(settings: Settings) -> str:
    """The protected resource: the MCP endpoint's public URL."""
    return f"{settings.public_url.rstrip('/')}/mcp"


def metadata_url(settings: Settings) -> str:
    """Where this gateway serves the resource metadata (named in every 401)."""
    return f"{settings.public_url.rstrip('/')}{METADATA_PATH}"


def resource_metadata(settings: Settings) -> dict[str, object]:
    """RFC 9728 protected-resource metadata of ``/mcp``."""
    scopes = [s for s in settings.oidc.scopes.split() if s != "offline_access"]
    return {
        "resource": resource_url(settings),
        "authorization_servers": [settings.oidc.issuer] if settings.oidc.issuer else [],
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
        "resource_name": "oscar-gateway: your OSCAR services as MCP tools",
    }


@router.get(METADATA_PATH, include_in_schema=False)
@router.get(f"{METADATA_PATH}/mcp", include_in_schema=False)
async def protected_resource(request: Request, settings: AppSettings) -> JSONResponse:
    """RFC 9728 metadata: the resource and the identity provider that issues its tokens."""
    return JSONResponse(resource_metadata(settings), headers={"Cache-Control": "max-age=300"})


def challenge(settings: Settings, exc: Unauthorized | None) -> tuple[dict[str, str], bytes]:
    """The 401's ``WWW-Authenticate`` header and JSON body."""
    value = f'Bearer resource_metadata="{metadata_url(settings)}"'
    if exc is not None:
        # RFC 6750 section 3: a token was sent and is not good.
        description = exc.message.replace('"', "'")
        value += f', error="invalid_token", error_description="{description}"'
    error = exc or Unauthorized(
        "Send your identity provider's access token as 'Authorization: Bearer <token>'."
    )
    return {"www-authenticate": value}, json.dumps(error.to_dict()).encode()


class BearerOnly:
    """ASGI wrapper: authenticates the bearer, or answers 401 with the metadata URL."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        user, problem = await self._user(Request(scope))
        if user is None:
            headers, body = challenge(self.settings, problem)
            await _send_401(send, headers, body)
            return
        await self.app({**scope, USER_SCOPE_KEY: user}, receive, send)

    async def _user(self, request: Request) -> tuple[User | None, Unauthorized | None]:
        header = request.headers.get("authorization")
        if not header:
            return None, None
        try:
            user = await bearer_user(request, header)
        except Unauthorized as exc:
            return None, exc
        return user, None


async def _send_401(send: Send, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 401, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def user_of_scope(scope: Scope) -> User:
    """The caller ``BearerOnly`` authenticated for this request."""
    user = scope.get(USER_SCOPE_KEY)
    if not isinstance(user, User):
        raise Unauthorized()
    return user
