"""Gradio's per-session state stays bounded under ``/call`` traffic (issue 18).

A real gateway, oscar-local and the dev IdP; calls through Gradio's two-step
``/gradio_api/call`` API with a bearer.  ``gateway_ui_sessions`` (``/metrics``)
is the number of sessions whose state the mounted apps hold, set at each sweep.
Before the fix every ``/call`` left its session behind (≈20 KB each).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devstack.idp import fetch_tokens
from tests.fixtures.gateway import Stack
from tests.test_ui_mounts import call, metric


def wait_for(stack: Stack, predicate: Callable[[float], bool], what: str) -> float:
    """Poll ``gateway_ui_sessions`` until ``predicate`` holds (sweeps run every ~0.5-5 s)."""
    deadline = time.monotonic() + 30
    while True:
        value = metric(stack, "gateway_ui_sessions")
        if predicate(value) or time.monotonic() > deadline:
            assert predicate(value), f"{what}: gateway_ui_sessions is {value}"
            return value
        time.sleep(0.25)


def sessions_stack(request: pytest.FixtureRequest, idp: Any, factory: Any, **ui: Any) -> Stack:
    oscar = request.getfixturevalue("local_oscar_factory")(oidc_issuers=[idp.issuer])
    settings = {f"ui__{key}": value for key, value in ui.items()}
    gateway = factory(idp, oscar__url=oscar.url, **settings)
    return Stack(idp=idp, oscar=oscar, gateway=gateway)


def bearer_client(stack: Stack) -> httpx.Client:
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60)


def post_only(http: httpx.Client, ui: str, **body: Any) -> str:
    """The first step of a call, its result never fetched: the client does not come back."""
    posted = http.post(f"{ui}/gradio_api/call/cowsay", json={"data": ["left"], **body})
    assert posted.status_code == 200, posted.text
    return str(posted.json()["event_id"])


def test_delivered_call_sessions_are_dropped_and_unfetched_ones_are_capped(
    request: pytest.FixtureRequest, idp: Any, auth_gateway_factory: Any
) -> None:
    stack = sessions_stack(
        request, idp, auth_gateway_factory, session_idle_seconds=600, max_sessions=4
    )
    ui = f"{stack.gateway.url}/ui/cowsay"
    with bearer_client(stack) as http:
        post_only(http, ui)
        # The unfetched result is kept (its client may still come for it) ...
        wait_for(stack, lambda v: v == 1, "one unfetched /call result")
        for i in range(25):
            event, data = call(http, ui, "cowsay", [f"moo {i}"])
            assert event == "complete" and f"moo {i}" in data[0], (event, data)
        # ... while the 25 delivered calls leave nothing behind.
        wait_for(stack, lambda v: v == 1, "after 25 delivered calls")
        for _ in range(10):
            post_only(http, ui)
        # Ten more results nobody fetches: at most ui.max_sessions are kept.
        time.sleep(3)
        wait_for(stack, lambda v: 0 < v <= 4, "after 11 unfetched results")
        event, _ = call(http, ui, "cowsay", ["still works"])
        assert event == "complete"


def test_a_tab_session_lives_while_used_and_goes_after_the_idle_time(
    request: pytest.FixtureRequest, idp: Any, auth_gateway_factory: Any
) -> None:
    stack = sessions_stack(request, idp, auth_gateway_factory, session_idle_seconds=3)
    ui = f"{stack.gateway.url}/ui/cowsay"
    with bearer_client(stack) as http:
        # A session hash of its own, as a browser tab sends: reused by later events.
        event, data = call_in_session(http, ui, "tab-1", "first")
        assert event == "complete" and "first" in data[0]
        wait_for(stack, lambda v: v == 1, "the tab's session after its event")
        wait_for(stack, lambda v: v == 0, "the tab's session after 3 s without use")
        # Coming back later starts a fresh session state; the call still works.
        event, data = call_in_session(http, ui, "tab-1", "again")
        assert event == "complete" and "again" in data[0]


def call_in_session(http: httpx.Client, ui: str, session: str, text: str) -> tuple[str, Any]:
    event_id = post_only(http, ui, session_hash=session, data=[text])
    event, payload = "", None
    with http.stream("GET", f"{ui}/gradio_api/call/cowsay/{event_id}") as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, json.loads(line.split(":", 1)[1].strip())
    return event, payload
