"""``/embed/popup``: the login popup of an embedding site, which asks the user before it hands
the site a signed link.

An allowed site opens ``/embed/popup?service=<name>&origin=<its origin>``.
After login the popup shows who asks (the origin) for which service, as whom,
and waits: "Allow" POSTs the form back with the session's CSRF token (and our
``Origin``, ``gateway.csrf``), and only that answer mints a link and posts it
to the opener with the exact target origin; "Deny" closes the window with
nothing posted.  The page may not be framed (``frame-ancestors 'none'``): a
site cannot hide it under its own content and steal the click.
"""

from __future__ import annotations

import html
import json
import secrets

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from auth.dependencies import BrowserUser
from auth.embed import mint_link
from auth.state import auth_state
from core.errors import BadRequest, Forbidden, NotFound
from core.identity import User
from core.settings import Settings
from gateway.deps import AppSettings, Oscar
from oscar.names import is_service_name

router = APIRouter(include_in_schema=False)
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def _checked(settings: Settings, service: str, origin: str) -> None:
    if origin not in settings.embed.allowed_origins:
        raise BadRequest("This site is not allowed to embed the gateway.")
    if not is_service_name(service):
        raise NotFound(f"There is no service called {service!r}.")


async def _csrf_token(request: Request, user: User) -> str:
    if user.kind != "session" or not user.session_id:
        raise Forbidden("Log in with this window's login page to let a site use a service.")
    session = await auth_state(request).sessions.get(user.session_id)
    if session is None:
        raise Forbidden("Your login has ended. Log in again.")
    return str(session.csrf_token)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8>"
        f"<title>oscar-gateway: {html.escape(title)}</title>"
        "<main style='font-family:system-ui;max-width:32rem;margin:2rem auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</main>",
        headers=_HEADERS,
    )


@router.get("/embed/popup")
async def ask_consent(
    request: Request,
    user: BrowserUser,
    oscar: Oscar,
    settings: AppSettings,
    service: str = Query(...),
    origin: str = Query(...),
) -> HTMLResponse:
    """After login in a popup: ask the user whether this site may use this service."""
    _checked(settings, service, origin)
    await oscar.get_service(service, auth=user.authorization)  # 403/404 if she may not
    csrf = await _csrf_token(request, user)
    fields = {"service": service, "origin": origin, "csrf_token": csrf}
    hidden = "".join(
        f"<input type=hidden name={name} value='{html.escape(value, quote=True)}'>"
        for name, value in fields.items()
    )
    return _page(
        "Allow this site?",
        f"<p id=ask><b id=origin>{html.escape(origin)}</b> asks to use the service "
        f"<b id=service>{html.escape(service)}</b> as "
        f"<b>{html.escape(user.display_name)}</b>, for as long as its link lasts.</p>"
        f"<form method=post action='{settings.root_path}/embed/popup'>{hidden}"
        "<button id=allow type=submit>Allow</button> "
        "<button id=deny type=button onclick='window.close()'>Deny</button></form>",
    )


@router.post("/embed/popup")
async def hand_over_link(
    request: Request,
    user: BrowserUser,
    oscar: Oscar,
    settings: AppSettings,
    service: str = Form(...),
    origin: str = Form(...),
    csrf_token: str = Form(""),
) -> HTMLResponse:
    """The user allowed it: post a signed link to the opener (exact origin), then close."""
    _checked(settings, service, origin)
    expected = await _csrf_token(request, user)
    if not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        raise Forbidden("This answer did not come from the popup's Allow button. Try again.")
    described = await oscar.get_service(service, auth=user.authorization)
    if not described.token:
        raise Forbidden(f"OSCAR did not give you the token of service {service!r}.")
    url, _ = mint_link(settings, service=service, sub=user.sub, service_token=described.token)
    message = json.dumps({"type": "oscar-gateway:embed-link", "service": service, "url": url})
    # postMessage with an exact target origin: no other page can read the link.
    script = f"window.opener&&window.opener.postMessage({message},{json.dumps(origin)});"
    script = script.replace("</", "<\\/")  # nothing in it may close the script element
    return _page(
        "Allowed",
        f"<p>{html.escape(origin)} may now use {html.escape(service)}. "
        "You can close this window.</p>"
        f"<script>{script}window.close();</script>",
    )
