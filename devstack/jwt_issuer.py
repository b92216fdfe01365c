"""A minimal JWT issuer for tests: discovery document and JWKS over real HTTP.

It signs whatever claims a test asks for with its own RSA key, so the local
OSCAR's and the gateway's bearer validation can be tested against a real
JWKS endpoint on 127.0.0.1.  It is not a login server: the browser flows use
the real OpenID provider in ``deploy/dev-idp``.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt


class _Server(ThreadingHTTPServer):
    """With ``tls``, each connection is wrapped in its own thread; a refused handshake (a
    client that does not trust the certificate) just closes that connection."""

    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            request.close()
            return
        with wrapped:
            super().finish_request(wrapped, client_address)


class JwtIssuer:
    """``JwtIssuer(tls=context)`` serves https with that server context (certificate tests)."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:12]
        self.private_pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_pem = public_pem.decode()
        public = jwk.construct(self.public_pem, "RS256").to_dict()
        self.jwks: dict[str, Any] = {"keys": [{**public, "kid": self.kid, "use": "sig"}]}
        self.jwks_available = True
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.tls = tls
        scheme = "https" if tls is not None else "http"
        self.issuer = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> JwtIssuer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sign(
        self, claims: dict[str, Any], *, ttl: int = 300, headers: dict[str, Any] | None = None
    ) -> str:
        """A token with ``iss``, ``iat``, ``exp`` filled in unless ``claims`` sets them."""
        now = int(time.time())
        body = {"iss": self.issuer, "iat": now, "exp": now + ttl, **claims}
        return str(
            jwt.encode(
                body,
                self.private_pem,
                algorithm="RS256",
                headers={"kid": self.kid, **(headers or {})},
            )
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json({"issuer": issuer.issuer, "jwks_uri": f"{issuer.issuer}/jwks"})
                elif self.path == "/jwks" and issuer.jwks_available:
                    self._json(issuer.jwks)
                else:
                    self.send_error(404 if issuer.jwks_available else 503)

            def _json(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
