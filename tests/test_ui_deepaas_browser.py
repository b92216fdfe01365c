"""Headless Chromium drives the deepaas-demo UI: its argument form, a prediction, the model's error.

The whole stack over sockets: the dev IdP, the local OSCAR running the
deepaas-demo example (ai4-papi's script around a STAND-IN ``deepaas-cli``), a
gateway.  The demo has no schema annotation, so the form comes from the model's
``--help``, asked with alice's token before her first visit builds the UI.
Screenshots go to ``artifacts/ui/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp
from tests.fixtures.browser import ARTIFACTS as BROWSER_ARTIFACTS
from tests.fixtures.gateway import Stack
from tests.test_ui_browser import log_in

pytestmark = pytest.mark.browser
ARTIFACTS = BROWSER_ARTIFACTS / "ui"
TIMEOUT = 60_000
DEMO = Path(__file__).parent.parent / "examples" / "services" / "deepaas-demo.yaml"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_deepaas_demo_form_predicts_and_shows_the_models_own_error(
    chromium_browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    photo = tmp_path / "green.png"
    Image.new("RGB", (48, 32), (30, 200, 40)).save(photo)
    page = log_in(chromium_browser, stack, "alice")
    page.goto(f"{stack.gateway.url}/ui/deepaas-demo/")

    # The predict arguments from the model's --help: a file, a number, a choice.
    expect(page.get_by_text("image (required)")).to_be_visible()
    top_k = page.get_by_label("top_k")
    expect(top_k).to_have_value("3")
    model = page.get_by_label("model")
    expect(model).to_have_value("mean-colour")
    expect(page.get_by_text("How many labels to return, 1 to 5")).to_be_visible()
    shot(page, "deepaas-form")

    page.locator('input[type="file"]').first.set_input_files(str(photo))
    top_k.fill("2")
    model.click()
    page.get_by_role("option", name="dominant-colour").click()
    expect(model).to_have_value("dominant-colour")
    page.get_by_role("button", name="Predict").click()
    result = page.locator("#deepaas-prediction")
    expect(result).to_contain_text("green", timeout=TIMEOUT)
    expect(result).to_contain_text("dominant-colour")
    expect(result).to_contain_text("predictions")
    expect(result.get_by_text("label")).to_have_count(2)

    # The full log is behind a closed toggle.
    log = page.locator("#deepaas-log textarea")
    expect(log).to_be_hidden()
    page.get_by_text("Full log").click()
    expect(log).to_have_value(re.compile(r"Final command: deepaas-cli predict .*--top_k 2"))
    shot(page, "deepaas-prediction")

    # A value the model rejects: its own argparse message is shown.
    top_k.fill("9")
    page.get_by_role("button", name="Predict").click()
    toast = page.get_by_role("status").filter(has_text="must be between 1 and 5")
    expect(toast).to_contain_text(
        "deepaas-cli predict: error: argument --top_k: must be between 1 and 5, not 9",
        timeout=TIMEOUT,
    )
    expect(log).to_have_value(re.compile(r"error: argument --top_k"))
    shot(page, "deepaas-model-error")


def async_copy(directory: Path) -> Path:
    """The deepaas-demo as ai4-papi deploys it: bucket-triggered (no sync mode annotation)."""
    text = DEMO.read_text().replace("deepaas-demo", "deepaas-async")
    text = text.replace("        oscar-gateway/mode: sync\n", "")
    assert "oscar-gateway/mode" not in text
    path = directory / "deepaas-async.yaml"
    path.write_text(text)
    return path


def test_async_deepaas_model_runs_as_a_job_and_shows_its_json_and_log_outputs(
    chromium_browser: Browser,
    idp: DevIdp,
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    oscar = local_oscar_factory(services=[async_copy(tmp_path)], oidc_issuers=[idp.issuer])
    stack = Stack(idp=idp, oscar=oscar, gateway=auth_gateway_factory(idp, oscar__url=oscar.url))
    photo = tmp_path / "blue.png"
    Image.new("RGB", (40, 40), (20, 40, 230)).save(photo)
    page = log_in(chromium_browser, stack, "alice")
    page.goto(f"{stack.gateway.url}/ui/deepaas-async/")
    expect(page.get_by_text("asynchronous (runs as a job)")).to_be_visible()
    page.locator('input[type="file"]').first.set_input_files(str(photo))
    page.get_by_label("top_k").fill("1")
    page.get_by_role("button", name="Predict").click()
    result = page.locator("#deepaas-prediction")
    # <name>.json of the output folder: the prediction deepaas-cli saved.
    expect(result).to_contain_text("blue", timeout=TIMEOUT)
    expect(result.get_by_text("label")).to_have_count(1)
    page.get_by_text("Full log").click()
    # <name>.log of the output folder: the script's own log.
    log = page.locator("#deepaas-log textarea")
    expect(log).to_have_value(re.compile(r"Final command: deepaas-cli --deepaas_method_output"))
    expect(log).to_have_value(re.compile(r"New output is"))
    shot(page, "deepaas-async")
