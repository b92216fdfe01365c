"""Keys derived from the session secret: one derivation, one purpose label per use.

``derived_key(settings, purpose)`` is HMAC-SHA256(session secret, purpose),
so each use (embed links, sealed job credentials, webhook signatures) has its
own key and none can be turned into another.  The purpose labels are part of
the format of what was sealed or signed: changing one invalidates it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from cryptography.fernet import Fernet

from core.settings import Settings

Purpose = Literal["embed links", "job credentials", "webhooks"]


def derived_key(settings: Settings, purpose: Purpose) -> bytes:
    """32 bytes for ``purpose``, from ``GATEWAY_SESSION__SECRET``."""
    secret = settings.session.secret.get_secret_value().encode()
    return hmac.new(secret, f"oscar-gateway {purpose}".encode(), hashlib.sha256).digest()


def fernet_for(settings: Settings, purpose: Purpose) -> Fernet:
    """A Fernet (AES-128-CBC + HMAC-SHA256) keyed for ``purpose``."""
    return Fernet(base64.urlsafe_b64encode(derived_key(settings, purpose)))
