"""Metric label sets stay bounded whatever names clients send (issue 18)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devstack.idp import fetch_tokens
from tests.fixtures.gateway import Stack


def invocations(stack: Stack) -> dict[tuple[str, str], float]:
    text = httpx.get(f"{stack.gateway.url}/metrics", timeout=10).text
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_invocations_total":
                found[(sample.labels["service"], sample.labels["outcome"])] = sample.value
    return found


def test_runs_of_services_that_do_not_exist_share_one_label(stack: Stack) -> None:
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    with httpx.Client(headers=headers, timeout=60) as http:
        for i in range(5):
            r = http.post(f"{stack.gateway.url}/api/v1/services/nope-{i}/run", content=b"x")
            assert r.status_code == 404, r.text
        assert http.post(f"{stack.gateway.url}/api/v1/services/cowsay/run", content=b"x").is_success
    counted = invocations(stack)
    assert counted[("<unknown>", "error")] == 5
    assert counted[("cowsay", "ok")] == 1
    assert not [service for service, _ in counted if service.startswith("nope-")]
