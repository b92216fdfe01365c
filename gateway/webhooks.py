"""Job-completion webhooks: allow-listed hosts and ports, checked addresses, signed bodies.

``GATEWAY_JOBS__WEBHOOK_ALLOWED_HOSTS`` lists ``host[:port]`` entries (no port:
the scheme's, 443 for https, 80 for http in demo mode).  Each delivery resolves
the host once, refuses loopback, private, link-local and reserved addresses
(unless ``GATEWAY_JOBS__WEBHOOK_ALLOW_PRIVATE_ADDRESSES``), and connects to the
address it checked, sending the original ``Host`` and, for https, the host name
as SNI and for the certificate check: a DNS answer that changes between the
check and the connection (rebinding) cannot redirect the delivery.

A receiver checks ``X-Gateway-Signature: sha256=<hex>`` = HMAC-SHA256(key,
``<X-Gateway-Timestamp>.<raw body>``) with the key from
``GATEWAY_JOBS__WEBHOOK_SECRET`` (``verify_signature`` does it), and rejects
stale timestamps so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from core.errors import InvalidInput
from core.keys import derived_key
from core.settings import Settings, parse_allowed_host

log = logging.getLogger("gateway.webhooks")

SIGNATURE_HEADER = "X-Gateway-Signature"
DEFAULT_PORTS = {"https": 443, "http": 80}
# (host, port) -> its addresses; the system's resolver unless a test stages the answers.
Resolver = Callable[[str, int], Awaitable[list[str]]]
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
_ATTEMPTS = 3


def webhook_key(settings: Settings) -> bytes:
    """The HMAC key: the configured webhook secret, else one derived from the session secret."""
    configured = settings.jobs.webhook_secret.get_secret_value()
    if configured:
        return configured.encode()
    return derived_key(settings, "webhooks")


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    key: bytes, headers: Mapping[str, str], body: bytes, *, max_age: int = 300
) -> bool:
    """True when ``headers`` carry a valid, fresh signature of ``body`` (for receivers)."""
    try:
        timestamp = int(headers.get(TIMESTAMP_HEADER, ""))
    except ValueError:
        return False
    if abs(time.time() - timestamp) > max_age:
        return False
    expected = sign(key, timestamp, body)
    return hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, ""))


def check_webhook_url(url: str, settings: Settings) -> str:
    """``url`` if it may receive webhooks (allow-listed host and port, https outside demo mode)."""
    parts = urlsplit(url)
    schemes = {"https", "http"} if settings.demo else {"https"}
    if parts.scheme not in schemes or not parts.hostname:
        allowed = " or ".join(sorted(schemes))
        raise InvalidInput(f"The webhook must be an absolute {allowed} URL.")
    if parts.username or parts.password:
        raise InvalidInput("The webhook URL must not carry credentials.")
    host, port = parts.hostname, _port_of(parts.port, parts.scheme)
    ports = {p or DEFAULT_PORTS[parts.scheme] for h, p in allowed_hosts(settings) if h == host}
    if not ports:
        raise InvalidInput(
            f"Webhooks to {host!r} are not allowed on this gateway; "
            "ask its operators to add the host to GATEWAY_JOBS__WEBHOOK_ALLOWED_HOSTS."
        )
    if port not in ports:
        listed = ", ".join(str(p) for p in sorted(ports))
        raise InvalidInput(
            f"Webhooks to {host!r} may only use port {listed}, not {port}; ask this gateway's "
            f"operators to add '{host}:{port}' to GATEWAY_JOBS__WEBHOOK_ALLOWED_HOSTS."
        )
    return url


def _port_of(port: int | None, scheme: str) -> int:
    return port or DEFAULT_PORTS[scheme]


def allowed_hosts(settings: Settings) -> list[tuple[str, int | None]]:
    """The allow-list as (lower-case host, port or None for the scheme's default)."""
    return [parse_allowed_host(entry) for entry in settings.jobs.webhook_allowed_hosts]


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_address(url: str, settings: Settings, resolve: Resolver = system_resolve) -> str:
    """Resolve the webhook's host once; the address to connect to, if every answer may be called."""
    check_webhook_url(url, settings)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = await resolve(host, _port_of(parts.port, parts.scheme))
    except OSError as exc:
        raise InvalidInput(f"The webhook host {host!r} cannot be resolved.") from exc
    if not addresses:
        raise InvalidInput(f"The webhook host {host!r} cannot be resolved.")
    if not settings.jobs.webhook_allow_private_addresses:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not ip.is_global or ip.is_multicast:
                raise InvalidInput(
                    f"The webhook host {host!r} resolves to {address}, a loopback, private, "
                    "link-local or reserved address, which this gateway does not call."
                )
    return addresses[0]


async def deliver(
    http: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    settings: Settings,
    resolve: Resolver = system_resolve,
) -> bool:
    """POST the signed ``payload`` to the checked address; retry transport errors and 5xx a
    few times.  True if 2xx."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    key = webhook_key(settings)
    parts = urlsplit(url)
    host = parts.hostname or ""
    # SNI and the certificate check use the host name, not the address connected to.
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            address = await checked_address(url, settings, resolve)
        except InvalidInput as exc:
            log.warning("webhook to %s not delivered: %s", host, exc.message)
            return False
        timestamp = int(time.time())
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(key, timestamp, body),
        }
        try:
            # No redirects: an allow-listed host must not bounce the delivery elsewhere.
            response = await http.post(
                httpx.URL(url).copy_with(host=address),
                content=body,
                headers=headers,
                timeout=settings.jobs.webhook_timeout_seconds,
                follow_redirects=False,
                extensions=extensions,
            )
        except httpx.TransportError as exc:
            log.warning("webhook to %s failed (attempt %d): %s", host, attempt, type(exc).__name__)
        else:
            if response.is_success:
                return True
            status = response.status_code
            log.warning("webhook to %s answered %d (attempt %d)", host, status, attempt)
            if status < 500:
                return False
        await anyio.sleep(attempt)
    return False
