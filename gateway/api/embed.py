"""``/embed/...``: opening signed embed links and public-embed runs.

See ``auth/embed.py`` (links, visitors) and ``gateway/embed.py`` (CORS, framing)
for the design.  These routes are a redirect endpoint for browsers
(``/embed/{service}``) and one JSON endpoint for anonymous visitors of public
services (``/embed/public/...``); the login popup is ``gateway/api/popup.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from auth.embed import embed_cookie, open_link, public_user
from core.errors import NotFound
from gateway.api.run import input_of, response_of
from gateway.deps import AppLimiters, AppMetrics, AppSettings, Oscar
from oscar.invoke import invoke_sync

router = APIRouter(include_in_schema=False)


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
    await limiters.public.hit(visitor.sub, what="anonymous runs from your address")
    body = await request.body()
    data = input_of(body, request.headers.get("content-type", ""))
    output = await invoke_sync(oscar, service, data, visitor.authorization)
    metrics.invocation(service, "sync", "ok")
    return response_of(output)
