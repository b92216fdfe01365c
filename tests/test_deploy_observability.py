"""/healthz, /readyz, /metrics, request ids and JSON logs of a real gateway process."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.gateway import GatewayProcess
from devstack.oscar import LocalOscar
from devstack.processes import free_port
from gateway.logs import REDACTED, JsonFormatter, RedactSecrets, redact

REQUIRED_LOG_KEYS = {"time", "level", "logger", "message", "request_id"}
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA"


class RecordingOscar:
    """Answers OSCAR's ``GET /health`` and keeps the headers of every request it got."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"Ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> RecordingOscar:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recording_oscar() -> Iterator[RecordingOscar]:
    with RecordingOscar() as oscar:
        yield oscar


def log_entries(gateway: GatewayProcess) -> list[dict[str, object]]:
    return [json.loads(line) for line in gateway.output().splitlines() if line.strip()]


def wait_for_access_line(gateway: GatewayProcess, request_id: str) -> dict[str, object]:
    """The access line of ``request_id`` (written just after the response is sent)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for entry in log_entries(gateway):
            if entry["logger"] == "gateway.access" and entry["request_id"] == request_id:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id}:\n{gateway.output()}")


def metric(gateway: GatewayProcess, name: str, **labels: str) -> float:
    text = httpx.get(f"{gateway.url}/metrics").text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def test_healthz_is_up_even_when_oscar_is_down(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_factory(oscar__url=f"http://127.0.0.1:{free_port()}")
    response = httpx.get(f"{gateway.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_oscar_and_the_session_store_answer(
    gateway_factory: Callable[..., GatewayProcess], local_oscar: LocalOscar
) -> None:
    gateway = gateway_factory(oscar__url=local_oscar.url)
    response = httpx.get(f"{gateway.url}/readyz")
    assert response.status_code == 200, response.text
    checks = {"oscar": "ok", "sessions": "ok", "limits": "ok"}
    assert response.json() == {"status": "ready", "checks": checks}


def test_readyz_says_oscar_unavailable_when_nothing_listens(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_factory(oscar__url=f"http://127.0.0.1:{free_port()}")
    response = httpx.get(f"{gateway.url}/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["checks"] == {"oscar": "OSCAR unavailable", "sessions": "ok", "limits": "ok"}
    assert "Traceback" not in response.text


def test_readyz_fails_when_the_redis_session_store_is_down(
    gateway_factory: Callable[..., GatewayProcess], recording_oscar: RecordingOscar
) -> None:
    gateway = gateway_factory(
        oscar__url=recording_oscar.url,
        session__backend="redis",
        session__redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    response = httpx.get(f"{gateway.url}/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["oscar"] == "ok"
    assert "session store" in checks["sessions"].lower()


def test_request_id_is_kept_when_sane_made_when_not_and_sent_to_oscar(
    gateway_factory: Callable[..., GatewayProcess], recording_oscar: RecordingOscar
) -> None:
    gateway = gateway_factory(oscar__url=recording_oscar.url)
    kept = httpx.get(f"{gateway.url}/readyz", headers={"X-Request-ID": "trace-0001.abc"})
    assert kept.headers["x-request-id"] == "trace-0001.abc"
    assert recording_oscar.headers[-1]["x-request-id"] == "trace-0001.abc"
    for insane in ("short", "has spaces in it", "x" * 200, "<script>alert(1)</script>"):
        made = httpx.get(f"{gateway.url}/readyz", headers={"X-Request-ID": insane})
        assert made.headers["x-request-id"] != insane
        assert len(made.headers["x-request-id"]) == 32
        assert recording_oscar.headers[-1]["x-request-id"] == made.headers["x-request-id"]
    # The id is in the gateway's own log line for that request (probes log at DEBUG).
    httpx.get(f"{gateway.url}/api/v1/services", headers={"X-Request-ID": "trace-0002.abc"})
    line = wait_for_access_line(gateway, "trace-0002.abc")
    assert line["path"] == "/api/v1/services" and line["status"] == 401


def test_metrics_count_requests_by_route_template_not_raw_path(
    gateway_factory: Callable[..., GatewayProcess], recording_oscar: RecordingOscar
) -> None:
    gateway = gateway_factory(oscar__url=recording_oscar.url)
    for name in ("alpha", "beta", "gamma"):
        assert httpx.get(f"{gateway.url}/api/v1/services/{name}").status_code == 401
    httpx.get(f"{gateway.url}/no/such/page-1")
    httpx.get(f"{gateway.url}/no/such/page-2")
    httpx.get(f"{gateway.url}/readyz")
    # The Gradio UIs are one mount: one series for all of them, whatever the service.
    httpx.get(f"{gateway.url}/ui/cowsay/")
    httpx.get(f"{gateway.url}/ui/grayify/gradio_api/info")
    route = "/api/v1/services/{name}"
    assert metric(gateway, "gateway_http_requests_total", route=route, status="401") == 3
    assert metric(gateway, "gateway_http_requests_total", route="<unmatched>") == 2
    assert metric(gateway, "gateway_http_request_duration_seconds_count", route=route) == 3
    assert metric(gateway, "gateway_http_requests_total", route="/readyz", status="200") == 1
    assert metric(gateway, "gateway_http_requests_total", route="/ui/{path}") == 2
    text = httpx.get(f"{gateway.url}/metrics").text
    for raw in ("alpha", "page-1", "cowsay", "grayify"):
        assert raw not in text
    # The other families of the issue are exposed too (recorded by their owners).
    for family in ("gateway_invocations_total", "gateway_jobs_in_flight", "gateway_mounted_uis"):
        assert family in text


def test_every_log_line_is_one_json_object_with_the_request_id(
    gateway_factory: Callable[..., GatewayProcess], recording_oscar: RecordingOscar
) -> None:
    gateway = gateway_factory(oscar__url=recording_oscar.url)
    response = httpx.get(f"{gateway.url}/api/v1/services", headers={"X-Request-ID": "req-logs-1"})
    assert response.status_code == 401
    access = wait_for_access_line(gateway, "req-logs-1")
    assert access["method"] == "GET" and access["status"] == 401
    assert access["route"] == "/api/v1/services"
    assert isinstance(access["duration"], float)
    for entry in log_entries(gateway):
        assert entry.keys() >= REQUIRED_LOG_KEYS, entry


def test_no_token_cookie_or_code_reaches_the_log(
    gateway_factory: Callable[..., GatewayProcess], recording_oscar: RecordingOscar
) -> None:
    gateway = gateway_factory(oscar__url=recording_oscar.url, log_level="DEBUG")
    secret_cookie = "cookie-value-that-is-secret-123"
    httpx.get(
        f"{gateway.url}/api/v1/services",
        headers={
            "Authorization": f"Bearer {JWT}",
            "Cookie": f"oscar_gateway_session={secret_cookie}",
        },
    )
    httpx.get(f"{gateway.url}/auth/callback?code=authcode-secret-456&state=state-secret-789")
    httpx.get(
        f"{gateway.url}/api/v1/services",
        headers={"Authorization": "Bearer " + "ab" * 32, "X-Request-ID": "last-of-secrets"},
    )
    wait_for_access_line(gateway, "last-of-secrets")  # every earlier line is written too
    output = gateway.output()
    assert "/auth/callback" in output  # the callback was logged, without its query
    for secret in (JWT, secret_cookie, "authcode-secret-456", "state-secret-789", "ab" * 32):
        assert secret not in output


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"calling OSCAR with Authorization: Bearer {JWT}", JWT),
        ("token refresh failed: refresh_token=8xJ2kLq0-zz for alice", "8xJ2kLq0-zz"),
        ('{"access_token": "opaque-token-value", "expires_in": 300}', "opaque-token-value"),
        ("Cookie: oscar_gateway_session=abcdef123; theme=dark", "abcdef123"),
        ("callback /auth/callback?code=the-code&state=the-state", "the-code"),
        ("service token " + "0123456789abcdef" * 4 + " rejected", "0123456789abcdef" * 4),
        ("basic auth Basic b3NjYXI6b3NjYXI= for the admin", "b3NjYXI6b3NjYXI="),
        ("password=hunter2 in a form", "hunter2"),
        ("GET https://s3/b/k?X-Amz-Credential=AKIA1%2F2&X-Amz-Signature=9f8e7d", "9f8e7d"),
    ],
)
def test_redaction_removes_secret_looking_values(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_access_fields_are_redacted_too() -> None:
    record = logging.LogRecord("gateway.access", logging.INFO, __file__, 1, "GET", (), None)
    record.path = f"/api/v1/embed/{JWT}"
    entry = json.loads(JsonFormatter().format(record))
    assert JWT not in entry["path"]


def test_redaction_keeps_ordinary_text() -> None:
    line = "GET /api/v1/services/cowsay 200 status_code=200 request_id=4f2a9c"
    assert redact(line) == line


def test_the_filter_redacts_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", (JWT,), None)
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert JWT not in json.dumps(entry)
    assert entry["message"] == f"sent {REDACTED}"
    assert "ValueError" in entry["exception"]
