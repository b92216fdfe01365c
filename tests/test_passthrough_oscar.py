"""``/oscar/...``: OSCAR's API through the gateway, used by the official oscar-python client."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import requests
from oscar_python.client import Client

from devstack.gateway import GatewayProcess
from devstack.idp import fetch_tokens
from devstack.processes import free_port
from tests.fixtures.gateway import Stack


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for this module: its tests only read the demo services through it."""
    return module_stack


def _oidc_client(stack: Stack, user: str = "alice") -> Client:
    token = fetch_tokens(stack.idp, user=user)["access_token"]
    return Client(
        {
            "cluster_id": "gateway",
            "endpoint": f"{stack.gateway.url}/oscar",
            "oidc_token": token,
            "ssl": False,
        }
    )


def test_oscar_python_lists_services_through_the_gateway(stack: Stack) -> None:
    names = [s["name"] for s in _oidc_client(stack).list_services().json()]
    assert "cowsay" in names and "grayify" in names
    assert "multi-output" not in names  # bob's: OSCAR saw alice's own token


def test_oscar_python_runs_a_service_through_the_gateway(stack: Stack) -> None:
    response = _oidc_client(stack).run_service("cowsay", input="through the gateway", timeout=60)
    assert response.status_code == 200
    # cowsay prints its answer: OSCAR returns stdout as text (oscar-api.md §4).
    assert "through the gateway" in response.text


def test_oscar_python_with_admin_basic_auth_is_forwarded_as_given(stack: Stack) -> None:
    user, password = stack.oscar.admin_auth
    admin = Client(
        {
            "cluster_id": "gateway",
            "endpoint": f"{stack.gateway.url}/oscar",
            "user": user,
            "password": password,
            "ssl": False,
        }
    )
    names = [s["name"] for s in admin.list_services().json()]
    assert "multi-output" in names  # the admin sees every service
    # Basic auth: oscar-python fetches the service token, then runs with it.
    response = admin.run_service("cowsay", input="admin via token", timeout=60)
    assert "admin via token" in response.text


def test_oscar_python_job_logs_through_the_gateway(stack: Stack) -> None:
    client = _oidc_client(stack)
    jobs = client.list_jobs("grayify").json()
    assert "jobs" in jobs or isinstance(jobs, dict)


def test_upstream_errors_pass_through_unchanged(stack: Stack) -> None:
    bearer = {"Authorization": f"Bearer {fetch_tokens(stack.idp)['access_token']}"}
    direct = httpx.get(f"{stack.oscar.url}/system/services/nope", headers=bearer)
    through = httpx.get(f"{stack.gateway.url}/oscar/system/services/nope", headers=bearer)
    assert through.status_code == direct.status_code == 404
    assert through.content == direct.content
    with pytest.raises(requests.HTTPError):
        _oidc_client(stack).get_service("nope")


def test_json_bodies_and_query_strings_go_through(stack: Stack) -> None:
    bearer = {"Authorization": f"Bearer {fetch_tokens(stack.idp)['access_token']}"}
    run = httpx.post(
        f"{stack.gateway.url}/oscar/run/cowsay",
        content=json.dumps({"message": "json passthrough"}),
        headers={**bearer, "Content-Type": "application/json"},
        timeout=60,
    )
    assert run.status_code == 200
    assert "json passthrough" in run.text
    logs = httpx.get(f"{stack.gateway.url}/oscar/system/logs/grayify?page=", headers=bearer)
    assert logs.status_code == 200


def test_passthrough_needs_credentials_except_health(stack: Stack) -> None:
    refused = httpx.get(f"{stack.gateway.url}/oscar/system/services")
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    health = httpx.get(f"{stack.gateway.url}/oscar/health")
    assert health.status_code == 200
    bad = httpx.get(
        f"{stack.gateway.url}/oscar/system/services", headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401  # OSCAR's own answer


def test_unreachable_oscar_is_503(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gateway = gateway_factory(oscar__url=f"http://127.0.0.1:{free_port()}")
    response = httpx.get(
        f"{gateway.url}/oscar/system/services", headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
