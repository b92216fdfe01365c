"""Certificate checks per trust domain: OSCAR's switch does not open the identity provider.

Issue 10 #6: ``GATEWAY_OSCAR__VERIFY_TLS=false`` (common with a self-signed OSCAR)
also switched off the checks on OIDC discovery and JWKS, so whoever sits on the
network path could serve their own keys and forge tokens.  Here the real local
OSCAR is served over https with a self-signed certificate (a TLS front on
127.0.0.1), and so is a JWT issuer; the certificate is made in the test.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.gateway import GatewayProcess
from devstack.jwt_issuer import JwtIssuer
from devstack.processes import free_port

AUDIENCE = "oscar-gateway"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsFront:
    """https on 127.0.0.1:``port`` in front of a plain-http server on ``target`` (a thread)."""

    def __init__(self, target: int, context: ssl.SSLContext) -> None:
        self.target = target
        self.context = context
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", self.port, ssl=self.context
        )

    async def _stop(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        # Aborted transports close their sockets on the next turns of the loop.
        await asyncio.sleep(0.1)

    def __enter__(self) -> TlsFront:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def https_oscar(local_oscar: Any, certificate: tuple[Path, ssl.SSLContext]) -> Iterator[str]:
    port = int(local_oscar.url.rsplit(":", 1)[1])
    with TlsFront(port, certificate[1]) as front:
        yield front.url


@pytest.fixture
def https_issuer(certificate: tuple[Path, ssl.SSLContext]) -> Iterator[JwtIssuer]:
    issuer = JwtIssuer(tls=certificate[1]).start()
    yield issuer
    issuer.stop()


def _gateway(
    factory: Callable[..., GatewayProcess], oscar: str, issuer: JwtIssuer, **tls: Any
) -> GatewayProcess:
    return factory(oscar__url=oscar, oidc__issuer=issuer.issuer, oidc__audiences=[AUDIENCE], **tls)


def _me(gateway: GatewayProcess, issuer: JwtIssuer) -> httpx.Response:
    token = issuer.sign({"sub": "alice", "aud": AUDIENCE, "name": "Alice"})
    return httpx.get(f"{gateway.url}/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_oscar_checks_off_leave_the_identity_provider_checked(
    https_oscar: str, https_issuer: JwtIssuer, gateway_factory: Callable[..., GatewayProcess]
) -> None:
    gateway = _gateway(gateway_factory, https_oscar, https_issuer, oscar__verify_tls=False)
    # The self-signed OSCAR is accepted, as the operator asked ...
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["oscar"] == "ok"
    assert "TLS certificate checks are off for OSCAR" in gateway.output()
    # ... but the self-signed identity provider is not: its keys cannot be fetched, so a
    # token signed with them is refused, and logging in says the provider is unreachable.
    refused = _me(gateway, https_issuer)
    assert refused.status_code in {401, 503}, refused.text
    assert "alice" not in refused.text
    login = httpx.get(f"{gateway.url}/auth/login", headers={"Accept": "application/json"})
    assert login.status_code == 503
    assert "identity provider cannot be reached" in login.json()["message"]
    assert "checks are off for the identity provider" not in gateway.output()


def test_ca_bundles_trust_exactly_the_given_certificates(
    certificate: tuple[Path, ssl.SSLContext],
    https_oscar: str,
    https_issuer: JwtIssuer,
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    cert = str(certificate[0])
    gateway = _gateway(
        gateway_factory, https_oscar, https_issuer, oscar__ca_bundle=cert, oidc__ca_bundle=cert
    )
    assert httpx.get(f"{gateway.url}/readyz").status_code == 200
    me = _me(gateway, https_issuer)
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == "alice"
    assert "checks are off" not in gateway.output()
    # Without the bundle, OSCAR's checks are on by default: the self-signed OSCAR is refused.
    strict = _gateway(gateway_factory, https_oscar, https_issuer, oidc__ca_bundle=cert)
    unready = httpx.get(f"{strict.url}/readyz")
    assert unready.status_code == 503
    assert unready.json()["checks"]["oscar"] == "OSCAR unavailable"
