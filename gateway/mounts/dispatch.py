"""``UIMounts``: the one ASGI app at ``/ui``; admits each request, then forwards it to its app.

For every request it:

1. authenticates the caller (session cookie, bearer, embed cookie or public
   mode) BEFORE anything else, so an anonymous request never makes the gateway
   build an app: browsers asking for HTML are sent to the login page, API/XHR
   calls get 401 JSON;
2. asks OSCAR, with the caller's own token, for the service
   (``gateway.mounts.access``);
3. takes the live app from the pool (``gateway.mounts.pool``), built on first
   use or again when the definition changed;
4. applies the rate and body limits of the UI path (``gateway.mounts.limits``),
   checks the files the request names (``gateway.mounts.files``) and forwards
   it with ``root_path`` extended by ``/<name>`` (Starlette keeps the full
   ``path``), the caller left in ``scope["state"]`` for the UI's handlers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import Receive, Scope, Send

from auth.dependencies import authenticate
from auth.embed import embed_user, public_user
from core.errorpages import error_response
from core.errors import Forbidden, GatewayError, LoginRequired, NotFound, Unauthorized
from core.identity import User
from core.metrics import Metrics
from core.settings import Settings
from gateway.limits import Limiters
from gateway.mounts.access import AccessCache
from gateway.mounts.builder import Builder, Mounted
from gateway.mounts.files import admit_files
from gateway.mounts.limits import admit_limits
from gateway.mounts.pool import Pool
from oscar.client import OscarClient
from oscar.models import Service
from oscar.names import is_service_name
from uis.handlers import USER_STATE_KEY, ServiceContext

log = logging.getLogger("gateway.mounts")
_NO_SUCH_NAME = (
    "There is no such service: OSCAR service names are 1-39 lowercase letters, digits "
    "and '-'. Pick a service in the portal."
)


class UIMounts:
    """The ASGI dispatcher at ``/ui`` (see module docstring); ``running()`` in the lifespan."""

    def __init__(self, settings: Settings, limiters: Limiters) -> None:
        self.settings = settings
        self.limiters = limiters
        self.pool: Pool | None = None
        self.access: AccessCache | None = None

    @asynccontextmanager
    async def running(
        self,
        *,
        oscar: OscarClient,
        metrics: Metrics,
        context: Callable[[Service], ServiceContext],
    ) -> AsyncIterator[UIMounts]:
        """Serve UIs with these collaborators until the gateway stops; close every app then."""
        self.pool = Pool(self.settings, Builder(self.settings, context), metrics)
        self.access = AccessCache(self.settings, oscar, self.pool.drop)
        async with self.pool.running():
            yield self
        self.pool = self.access = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        root = scope.get("root_path", "")
        path: str = scope["path"]
        rest = path[len(root) :] if path.startswith(root) else path
        name, slash, _ = rest.lstrip("/").partition("/")
        try:
            if not name:
                raise NotFound("Pick a service in the portal.")
            if not is_service_name(name):
                # Never echoed into a Location: "/ui/https:evil.example" would leave the site.
                raise NotFound(_NO_SUCH_NAME)
            if not slash and scope["type"] == "http":
                await RedirectResponse(self._slash_url(name, scope), status_code=307)(
                    scope, receive, send
                )
                return
            mounted, user = await self._admit(scope, name)
        except GatewayError as exc:
            await self._respond(scope, receive, send, exc)
            return
        await self._forward(mounted, user, scope, receive, send)

    def _slash_url(self, name: str, scope: Scope) -> str:
        """An absolute path under our own prefix (Starlette's redirect doubled the prefix)."""
        query = scope.get("query_string", b"").decode("latin-1")
        target = f"{self.settings.root_path}/ui/{name}/"
        return f"{target}?{query}" if query else target

    async def _admit(self, scope: Scope, name: str) -> tuple[Mounted, User]:
        assert self.pool is not None and self.access is not None, "UIs are not running"
        request = Request(scope)
        user = await self._caller(request, name)
        if user.kind == "service_token":
            return await self.pool.app_for(self._token_service(user, name), user), user
        try:
            service = await self.access.service_for(user, name)
        except Unauthorized:
            # OSCAR refused the token (expired or revoked there): log in again.
            raise LoginRequired() from None
        return await self.pool.app_for(service, user), user

    async def _caller(self, request: Request, name: str) -> User:
        try:
            user = await authenticate(request)
        except Unauthorized:
            user = None
        user = (
            user
            or embed_user(request, self.settings, service=name)
            or public_user(request, self.settings, service=name)
        )
        if user is None:
            raise LoginRequired()
        return user

    def _token_service(self, user: User, name: str) -> Service:
        """For embed/public visitors (a service token): the service as last seen, if ever.

        OSCAR accepts service tokens on ``/run`` and ``/job`` only (oscar-api.md §1),
        so such a visitor cannot read the definition; OSCAR still checks every call.
        """
        assert self.access is not None
        if user.service != name:
            raise Forbidden("This credential is for another service.")
        return self.access.last_seen(name) or Service(name=name)

    async def _forward(
        self, mounted: Mounted, user: User, scope: Scope, receive: Receive, send: Send
    ) -> None:
        state = dict(scope.get("state") or {})
        state[USER_STATE_KEY] = user
        child = {**scope, "root_path": f"{scope.get('root_path', '')}/{mounted.name}"}
        child["state"] = state
        mounted.active += 1
        mounted.last_used = time.monotonic()
        try:
            if scope["type"] == "http":
                route = scope["path"][len(child["root_path"]) :]
                try:
                    receive = await admit_limits(
                        self.limiters,
                        scope,
                        receive,
                        settings=self.settings,
                        user=user,
                        route=route,
                    )
                    receive, send = await admit_files(
                        mounted.files,
                        user.sub,
                        scope,
                        receive,
                        send,
                        route=route,
                        max_body=self.settings.limits.max_body_bytes,
                    )
                except GatewayError as refused:
                    log.warning("refused a request to %s: %s", mounted.name, refused.message)
                    await self._respond(scope, receive, send, refused)
                    return
            await mounted.app(child, receive, send)
        finally:
            mounted.active -= 1
            mounted.last_used = time.monotonic()

    async def _respond(self, scope: Scope, receive: Receive, send: Send, exc: GatewayError) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        response = error_response(request, exc, root_path=self.settings.root_path)
        await response(scope, receive, send)
