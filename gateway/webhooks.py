"""Job-completion webhooks: allow-listed hosts, bodies signed with HMAC-SHA256.

A receiver checks ``X-Gateway-Signature: sha256=<hex>`` = HMAC-SHA256(key,
``<X-Gateway-Timestamp>.<raw body>``) with the key from
``GATEWAY_JOBS__WEBHOOK_SECRET`` (``verify_signature`` does it), and rejects
stale timestamps so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from core.errors import InvalidInput
from core.settings import Settings

log = logging.getLogger("gateway.webhooks")

SIGNATURE_HEADER = "X-Gateway-Signature"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
_ATTEMPTS = 3


def webhook_key(settings: Settings) -> bytes:
    """The HMAC key: the configured webhook secret, else one derived from the session secret."""
    configured = settings.jobs.webhook_secret.get_secret_value()
    if configured:
        return configured.encode()
    session = settings.session.secret.get_secret_value().encode()
    return hmac.new(session, b"oscar-gateway webhooks", hashlib.sha256).digest()


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
    """``url`` if it may receive webhooks (allow-listed host, https outside demo mode)."""
    parts = urlsplit(url)
    schemes = {"https", "http"} if settings.demo else {"https"}
    if parts.scheme not in schemes or not parts.hostname:
        allowed = " or ".join(sorted(schemes))
        raise InvalidInput(f"The webhook must be an absolute {allowed} URL.")
    if parts.username or parts.password:
        raise InvalidInput("The webhook URL must not carry credentials.")
    if parts.hostname not in settings.jobs.webhook_allowed_hosts:
        raise InvalidInput(
            f"Webhooks to {parts.hostname!r} are not allowed on this gateway; "
            "ask its operators to add the host to GATEWAY_JOBS__WEBHOOK_ALLOWED_HOSTS."
        )
    return url


async def deliver(
    http: httpx.AsyncClient, url: str, payload: dict[str, Any], *, settings: Settings
) -> bool:
    """POST the signed ``payload``; retry transport errors and 5xx a few times. True if 2xx."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    key = webhook_key(settings)
    host = urlsplit(url).hostname
    for attempt in range(1, _ATTEMPTS + 1):
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(key, timestamp, body),
        }
        try:
            # No redirects: an allow-listed host must not bounce the delivery elsewhere.
            response = await http.post(
                url,
                content=body,
                headers=headers,
                timeout=settings.jobs.webhook_timeout_seconds,
                follow_redirects=False,
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
