"""The gateway's one error tree.

Every error a route, a UI or the OSCAR client raises on purpose is a
``GatewayError``.  Each class carries the HTTP status it renders as and a short
machine-readable ``code``; the ``message`` is written for the person who reads
it (what went wrong and what to do).  Foreign errors (httpx, botocore, jose)
are translated into these at the boundary with ``raise ... from exc``.

    GatewayError (500 internal)
    ├── BadRequest (400 bad_request)
    │   └── InvalidInput (400 invalid_input)
    ├── Unauthorized (401 unauthorized)
    │   ├── LoginRequired (401 unauthorized; a browser asking for a page: 303 to log in)
    │   └── ProviderRefused (401 provider_refused: the identity provider said no)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    ├── Conflict (409 conflict)
    ├── PayloadTooLarge (413 payload_too_large)
    ├── RateLimited (429 rate_limited)
    ├── UpstreamError (502 upstream_error)
    ├── Unavailable (503 unavailable)
    └── UpstreamTimeout (504 upstream_timeout)
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status_code: int = 500
    code: str = "internal"
    default_message: str = "Something went wrong inside the gateway. Try again later."

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        self.message = message or self.default_message
        # ``detail`` keeps what the upstream said (e.g. OSCAR's body text) for logs and API bodies.
        self.detail = detail
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.detail:
            body["detail"] = self.detail
        return body


class BadRequest(GatewayError):
    status_code = 400
    code = "bad_request"
    default_message = "The request is not valid."


class InvalidInput(BadRequest):
    code = "invalid_input"
    default_message = "The input does not fit what the service expects."


class Unauthorized(GatewayError):
    status_code = 401
    code = "unauthorized"
    default_message = "You are not logged in, or your login has expired. Log in and try again."


class LoginRequired(Unauthorized):
    """No usable login: API clients get 401, browsers asking for a page go to the login page.

    Same code and message as ``Unauthorized`` for programs; only the rendering differs.
    """


class ProviderRefused(Unauthorized):
    """The identity provider answered a token request with an OAuth error (``invalid_grant``)."""

    code = "provider_refused"
    default_message = "The identity provider refused the login. Log in again."

    def __init__(self, error: str, message: str | None = None) -> None:
        super().__init__(message, detail=error)
        self.error = error


class Forbidden(GatewayError):
    status_code = 403
    code = "forbidden"
    default_message = "You may not use this. Ask the service's owner for access."


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(GatewayError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(GatewayError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The upload is larger than this gateway accepts."


class RateLimited(GatewayError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests. Wait a little and try again."

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(GatewayError):
    status_code = 502
    code = "upstream_error"
    default_message = "OSCAR answered with an error. Try again, or tell the site's operators."


class Unavailable(GatewayError):
    status_code = 503
    code = "unavailable"
    default_message = "OSCAR unavailable: the cluster cannot be reached right now. Try again later."


class UpstreamTimeout(GatewayError):
    status_code = 504
    code = "upstream_timeout"
    default_message = "OSCAR took too long to answer. Try again, or use the asynchronous mode."
