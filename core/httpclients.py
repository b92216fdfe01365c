"""The gateway's three outgoing HTTP clients, each with its own certificate checks.

OSCAR, the identity provider and webhook receivers are different trust
domains: a self-signed OSCAR (``GATEWAY_OSCAR__VERIFY_TLS=false`` or its own
``GATEWAY_OSCAR__CA_BUNDLE``) must not also switch off the checks on discovery
and JWKS, or a network attacker could serve keys and forge tokens.  Webhook
receivers are third parties: always checked against the system's CAs.
"""

from __future__ import annotations

import logging
import ssl

import httpx

from core.settings import Settings

log = logging.getLogger("gateway.tls")


def tls_verify(verify: bool, ca_bundle: str) -> ssl.SSLContext | bool:
    """httpx's ``verify``: off, the system CAs, or only the CAs in ``ca_bundle``."""
    if not verify:
        return False
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return True


def oscar_http(settings: Settings) -> httpx.AsyncClient:
    """The client for OSCAR's API (and its health check)."""
    oscar = settings.oscar
    if not oscar.verify_tls:
        log.warning("TLS certificate checks are off for OSCAR (GATEWAY_OSCAR__VERIFY_TLS=false)")
    timeout = httpx.Timeout(oscar.timeout_seconds, connect=oscar.connect_timeout_seconds)
    return httpx.AsyncClient(timeout=timeout, verify=tls_verify(oscar.verify_tls, oscar.ca_bundle))


def idp_http(settings: Settings) -> httpx.AsyncClient:
    """The client for the identity provider's discovery document and JWKS."""
    oidc = settings.oidc
    if not oidc.verify_tls:
        log.warning(
            "TLS certificate checks are off for the identity provider "
            "(GATEWAY_OIDC__VERIFY_TLS=false): anyone on the network path can forge tokens"
        )
    verify = tls_verify(oidc.verify_tls, oidc.ca_bundle)
    return httpx.AsyncClient(timeout=oidc.http_timeout_seconds, verify=verify)


def webhook_http(settings: Settings) -> httpx.AsyncClient:
    """The client for job webhooks: the system's CAs, no redirects."""
    return httpx.AsyncClient(timeout=settings.jobs.webhook_timeout_seconds, follow_redirects=False)
