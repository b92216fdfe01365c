"""``/oscar/...``: OSCAR's own API through the gateway, streamed both ways.

The caller's ``Authorization`` header is forwarded exactly as given (Basic for
the admin, an OIDC bearer, a service token): OSCAR decides, so oscar-python
and oscar-cli pointed at ``{public_url}/oscar`` behave as against OSCAR itself
(they build every URL as ``endpoint + path``, oscar-api.md §6).  Requests
without credentials are refused here, except OSCAR's public ``/health``.
Bodies are streamed to OSCAR and back, never held whole; an OSCAR that does
not answer in time is a 504, one that cannot be reached a 503.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI, Request
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from core.errors import Unauthorized
from core.settings import Settings
from gateway.deps import AppSettings, Http
from oscar.client import transport_error

# RFC 9110 §7.6.1 hop-by-hop fields, plus what httpx recomputes for the new connection.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
}
_PUBLIC_PATHS = {"health"}
_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]

router = APIRouter(include_in_schema=False)


def _request_headers(request: Request) -> dict[str, str]:
    # Our own session cookie is not OSCAR's business: only the Authorization goes through.
    return {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}


def _response_headers(response: httpx.Response) -> dict[str, str]:
    # Bytes go back raw (still encoded), so Content-Encoding and Content-Length stay true.
    drop = _HOP_BY_HOP - {"content-length"}
    return {k: v for k, v in response.headers.items() if k.lower() not in drop}


@router.api_route("/oscar/{path:path}", methods=_METHODS)
async def passthrough(
    path: str, request: Request, settings: AppSettings, http: Http
) -> StreamingResponse:
    """Forward one OSCAR API call with the caller's credentials."""
    if "authorization" not in request.headers and path not in _PUBLIC_PATHS:
        raise Unauthorized("Send your OSCAR credentials (Authorization header) with /oscar calls.")
    url = f"{settings.oscar.url.rstrip('/')}/{path}"
    if request.url.query:
        url += f"?{request.url.query}"
    has_body = request.method in {"POST", "PUT", "PATCH", "DELETE"}
    upstream = http.build_request(
        request.method,
        url,
        headers=_request_headers(request),
        content=request.stream() if has_body else None,
    )
    try:
        response = await http.send(upstream, stream=True)
    except httpx.TransportError as exc:
        raise transport_error(exc, url) from exc
    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers=_response_headers(response),
        background=BackgroundTask(response.aclose),
    )


def install_passthrough(app: FastAPI, settings: Settings) -> None:
    """Mount the OSCAR API passthrough at ``/oscar``."""
    app.include_router(router)
