"""``/embed/...``: opening signed embed links, the login popup, and public-embed runs.

See ``auth/embed.py`` (links, visitors) and ``gateway/embed.py`` (CORS, framing)
for the design.  These routes are HTML/redirect endpoints for browsers
(``/embed/{service}``, ``/embed/popup``) and one JSON endpoint for anonymous
visitors of public services (``/embed/public/...``).
"""

from __future__ import annotations

import html
import json

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from auth.dependencies import BrowserUser
from auth.embed import embed_cookie, mint_link, open_link, public_user
from core.errors import BadRequest, Forbidden, NotFound
from gateway.api.run import input_of, response_of
from gateway.deps import AppLimiters, AppMetrics, AppSettings, Oscar
from oscar.invoke import invoke_sync

router = APIRouter(include_in_schema=False)


@router.get("/embed/popup")
async def login_popup(
    user: BrowserUser,
    oscar: Oscar,
    settings: AppSettings,
    service: str = Query(...),
    origin: str = Query(...),
) -> HTMLResponse:
    """After login in a popup: hand the opener (an allowed origin) a signed link, then close."""
    if origin not in settings.embed.allowed_origins:
        raise BadRequest("This site is not allowed to embed the gateway.")
    described = await oscar.get_service(service, auth=user.authorization)
    if not described.token:
        raise Forbidden(f"OSCAR did not give you the token of service {service!r}.")
    url, _ = mint_link(settings, service=service, sub=user.sub, service_token=described.token)
    message = json.dumps({"type": "oscar-gateway:embed-link", "service": service, "url": url})
    # postMessage with an exact target origin: no other page can read the link.
    script = (
        f"window.opener&&window.opener.postMessage({message},{json.dumps(origin)});window.close();"
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>Logged in</title>"
        f"<p>Logged in as {html.escape(user.display_name)}. You can close this window.</p>"
        f"<script>{script}</script>"
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@router.get("/embed/{service}")
async def open_embed_link(
    service: str, settings: AppSettings, t: str = Query(..., description="the link token")
) -> RedirectResponse:
    """Open a signed embed link: set the embed cookie for this service, go to its UI."""
    cookie, max_age = open_link(settings, service=service, token=t)
    target = f"{settings.root_path}/ui/{service}/"
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    header = embed_cookie(settings, service=service, value=cookie, max_age=max_age)
    response.headers.append("Set-Cookie", header)
    return response


@router.post("/embed/public/{service}/run")
async def run_public(
    service: str,
    request: Request,
    oscar: Oscar,
    settings: AppSettings,
    limiters: AppLimiters,
    metrics: AppMetrics,
) -> Response:
    """Run a public-embed service for an anonymous visitor (per-IP rate limit, small bodies)."""
    visitor = public_user(request, settings, service=service)
    if visitor is None:
        raise NotFound(f"Service {service!r} is not open to anonymous visitors here.")
    limiters.public.hit(visitor.sub, what="anonymous runs from your address")
    body = await request.body()
    data = input_of(body, request.headers.get("content-type", ""))
    output = await invoke_sync(oscar, service, data, visitor.authorization)
    metrics.invocation(service, "sync", "ok")
    return response_of(output)
