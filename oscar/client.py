"""``OscarClient``: OSCAR's HTTP API over the app's one ``httpx.AsyncClient``.

The client holds no credentials: every call takes ``auth``, the full
``Authorization`` header value to forward (``user.authorization``, a service
token as ``"Bearer <hex>"``, or ``"Basic ..."`` for the admin).

Errors are decided on the status code alone (oscar-api.md §2: bodies are
plain text, empty, or several messages run together), and OSCAR's body text is
kept in ``detail``:

    400 BadRequest · 401 Unauthorized · 403 Forbidden · 404 NotFound ·
    409 Conflict · 413 PayloadTooLarge · 503 Unavailable · 504 UpstreamTimeout ·
    any other 4xx/5xx UpstreamError

Transport failures: cannot connect (incl. connect timeout) → Unavailable,
read/write/pool timeout → UpstreamTimeout, anything else → UpstreamError.

URLs are built as ``settings.url + path`` so an OSCAR served under a path
prefix (``https://host/oscar``) works, like oscar-python does (§6).
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import quote

import httpx

from core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from core.settings import OscarSettings
from oscar.models import JobList, Presigned, Service, SystemConfig, SystemInfo

_STATUS_ERRORS: dict[int, type[GatewayError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    503: Unavailable,
    504: UpstreamTimeout,
}
_MESSAGES: dict[type[GatewayError], str] = {
    BadRequest: "OSCAR rejected the request as invalid.",
    Unauthorized: "OSCAR did not accept your credentials. Log in again.",
    Forbidden: "OSCAR does not let you do this. Ask the service's owner for access.",
    Conflict: "OSCAR reports a conflict with what already exists.",
    PayloadTooLarge: "OSCAR refused the request: the body is too large.",
    Unavailable: "OSCAR is unavailable right now. Try again later.",
    UpstreamTimeout: "OSCAR took too long to answer. Try again, or use the asynchronous mode.",
}
_DETAIL_LIMIT = 4000


def segment(value: str) -> str:
    """``value`` quoted as one URL path segment (a service, job or bucket name)."""
    return quote(value, safe="")


def error_for(response: httpx.Response, *, subject: str = "") -> GatewayError:
    """The domain error for a non-2xx OSCAR answer, decided on the status code alone."""
    status = response.status_code
    cls = _STATUS_ERRORS.get(status, UpstreamError)
    detail = response.text[:_DETAIL_LIMIT].strip() or None
    if cls is NotFound:
        message = f"OSCAR has no {subject}." if subject else "OSCAR found nothing there."
    elif cls is UpstreamError:
        message = f"OSCAR answered {status}" + (f" for {subject}." if subject else ".")
    else:
        message = _MESSAGES[cls]
    return cls(message, detail=detail)


def transport_error(exc: httpx.TransportError, url: str) -> GatewayError:
    """The domain error for a failure to talk to OSCAR at all."""
    # A connect timeout means nothing answered: the cluster is unreachable, not slow.
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return Unavailable(detail=f"{type(exc).__name__} for {url}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(detail=f"{type(exc).__name__} for {url}")
    return UpstreamError(
        "The connection to OSCAR failed. Try again.",
        detail=f"{type(exc).__name__} for {url}: {exc}",
    )


class OscarClient:
    """Typed calls to one OSCAR cluster; see the module docstring for errors."""

    def __init__(self, http: httpx.AsyncClient, settings: OscarSettings) -> None:
        self._http = http
        self.settings = settings
        self.base_url = settings.url.rstrip("/")

    def url(self, path: str) -> str:
        """Absolute URL of an API ``path``, keeping the base URL's own path prefix."""
        return f"{self.base_url}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        auth: str | None,
        subject: str = "",
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        timeout_seconds: float | None = None,
    ) -> httpx.Response:
        """Send one request; return the 2xx response or raise the mapped domain error."""
        url = self.url(path)
        headers = {"Authorization": auth} if auth else {}
        if json_body is not None:
            content = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        extra: dict[str, Any] = {}
        if timeout_seconds is not None:
            extra["timeout"] = httpx.Timeout(
                timeout_seconds, connect=self.settings.connect_timeout_seconds
            )
        try:
            response = await self._http.request(
                method, url, headers=headers, content=content, params=params, **extra
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from exc
        if response.is_success:
            return response
        raise error_for(response, subject=subject)

    # --- cluster -------------------------------------------------------------------------

    async def health(self) -> None:
        """Return when ``GET /health`` answers 200; raise Unavailable otherwise."""
        try:
            await self.request("GET", "/health", auth=None, subject="health endpoint")
        except Unavailable:
            raise
        except GatewayError as exc:
            raise Unavailable(detail=exc.detail or exc.message) from exc

    async def system_info(self, *, auth: str) -> SystemInfo:
        """``/system/info``: OSCAR's version and backend."""
        response = await self.request("GET", "/system/info", auth=auth)
        return SystemInfo.model_validate(response.json())

    async def system_config(self, *, auth: str) -> SystemConfig:
        """``/system/config``: includes the caller's own MinIO endpoint and keys."""
        response = await self.request("GET", "/system/config", auth=auth)
        return SystemConfig.model_validate(response.json())

    # --- services ------------------------------------------------------------------------

    async def list_services(self, *, auth: str) -> list[Service]:
        """The services the caller may see."""
        response = await self.request("GET", "/system/services", auth=auth)
        return [Service.from_api(item) for item in (response.json() or [])]

    async def get_service(self, name: str, *, auth: str) -> Service:
        """One service (with its token when the caller may read it); NotFound, Forbidden."""
        response = await self.request(
            "GET", f"/system/services/{segment(name)}", auth=auth, subject=f"service {name!r}"
        )
        return Service.from_api(response.json())

    async def create_service(self, definition: dict[str, Any], *, auth: str) -> Service:
        """Create a service and return it as OSCAR stored it (OSCAR's 201 has no body)."""
        await self.request("POST", "/system/services", auth=auth, json_body=definition)
        return await self.get_service(str(definition.get("name", "")), auth=auth)

    async def update_service(self, definition: dict[str, Any], *, auth: str) -> None:
        """Replace the service named by ``definition["name"]`` (owner and token are kept)."""
        name = str(definition.get("name", ""))
        await self.request(
            "PUT", "/system/services", auth=auth, json_body=definition, subject=f"service {name!r}"
        )

    async def delete_service(self, name: str, *, auth: str) -> None:
        """Delete a service; OSCAR also deletes its buckets and every object in them."""
        await self.request(
            "DELETE", f"/system/services/{segment(name)}", auth=auth, subject=f"service {name!r}"
        )

    # --- invocation ----------------------------------------------------------------------

    async def run(
        self, name: str, body: bytes, *, auth: str, timeout_seconds: float | None = None
    ) -> bytes:
        """``POST /run/{name}``: the raw supervisor output (see ``payloads.decode_output``)."""
        response = await self.request(
            "POST",
            f"/run/{segment(name)}",
            auth=auth,
            content=body,
            subject=f"service {name!r}",
            timeout_seconds=timeout_seconds,
        )
        return response.content

    async def submit_job(self, name: str, body: bytes, *, auth: str) -> None:
        """``POST /job/{name}``; OSCAR answers 201 with no job id (find it in ``list_jobs``)."""
        await self.request(
            "POST", f"/job/{segment(name)}", auth=auth, content=body, subject=f"service {name!r}"
        )

    # --- jobs and logs -------------------------------------------------------------------

    async def list_jobs(self, name: str, *, auth: str, page: str = "") -> JobList:
        """One page of the service's jobs; pass ``next_page`` back as ``page`` for the next."""
        response = await self.request(
            "GET",
            f"/system/logs/{segment(name)}",
            auth=auth,
            params={"page": page} if page else None,
            subject=f"service {name!r}",
        )
        return JobList.from_api(response.json())

    async def list_all_jobs(self, name: str, *, auth: str, max_pages: int = 20) -> JobList:
        """Every job of the service, following ``next_page`` (at most ``max_pages`` pages)."""
        result = await self.list_jobs(name, auth=auth)
        jobs, page = list(result.jobs), result.next_page
        for _ in range(max_pages - 1):
            if not page:
                break
            more = await self.list_jobs(name, auth=auth, page=page)
            jobs.extend(more.jobs)
            page = more.next_page
        return JobList(jobs=jobs, next_page=page, remaining_jobs=0)

    async def job_log(self, name: str, job: str, *, auth: str) -> str:
        """The job's log text; NotFound also while its pod does not exist yet."""
        response = await self.request(
            "GET",
            f"/system/logs/{segment(name)}/{segment(job)}",
            auth=auth,
            subject=f"job {job!r} of service {name!r}",
        )
        return response.text

    async def delete_job(self, name: str, job: str, *, auth: str) -> None:
        """Delete one job record (and its log)."""
        await self.request(
            "DELETE",
            f"/system/logs/{segment(name)}/{segment(job)}",
            auth=auth,
            subject=f"job {job!r} of service {name!r}",
        )

    async def delete_jobs(self, name: str, *, auth: str, include_unfinished: bool = False) -> None:
        """Delete the service's succeeded jobs (all of them with ``include_unfinished``)."""
        await self.request(
            "DELETE",
            f"/system/logs/{segment(name)}",
            auth=auth,
            params={"all": "true"} if include_unfinished else None,
            subject=f"service {name!r}",
        )

    # --- storage -------------------------------------------------------------------------

    async def presign(
        self,
        bucket: str,
        key: str,
        operation: Literal["upload", "download"],
        *,
        auth: str,
        expires_in: int | None = None,
        content_type: str | None = None,
    ) -> Presigned:
        """A short-lived URL to upload or download ``bucket/key`` without S3 credentials."""
        body: dict[str, Any] = {"object_key": key, "operation": operation}
        if expires_in is not None:
            body["expires_in"] = expires_in
        if content_type:
            body["content_type"] = content_type
        response = await self.request(
            "POST",
            f"/system/buckets/{segment(bucket)}/presign",
            auth=auth,
            json_body=body,
            subject=f"bucket {bucket!r}",
        )
        return Presigned.model_validate(response.json())
