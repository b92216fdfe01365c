"""``GET /``: the portal — the services the logged-in user may use, with ready snippets.

The list is OSCAR's answer to ``GET /system/services`` with the user's own
token (OSCAR filters by visibility, oscar-api.md §1), so a private service of
someone else never shows.  Every URL is built from ``settings.public_url``
(the real external base, prefix included), never from request headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from auth.dependencies import BrowserUser
from auth.state import auth_state
from core.settings import Settings
from gateway.deps import AppSettings, Oscar
from oscar.models import Service
from uis.registry import api_name, resolve
from uis.spec import UISpec, parse_spec

router = APIRouter(tags=["portal"])
TEMPLATES = Path(__file__).parent / "templates"
_EVENT_ID = """python3 -c 'import json,sys; print(json.load(sys.stdin)["event_id"])'"""
_SAMPLE_INPUT: dict[str, Any] = {
    "text": "Hello from OSCAR",
    "json": {"key": "value"},
}


@dataclass(frozen=True)
class ServiceCard:
    """One service as the portal shows it."""

    name: str
    spec: UISpec
    api_name: str
    ui_url: str
    snippets: dict[str, str]
    embeds: dict[str, str]


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), cache_size=8
    )


@router.get("/", response_class=HTMLResponse)
async def portal(
    request: Request, user: BrowserUser, oscar: Oscar, settings: AppSettings
) -> HTMLResponse:
    """The portal: the services you may use, their UIs and how to call them."""
    services = await oscar.list_services(auth=user.authorization)
    base = settings.public_url.rstrip("/")
    cards = [card(s, base) for s in sorted(services, key=lambda s: s.name)]
    page = (
        _templates()
        .get_template("portal.html")
        .render(
            user=user,
            cards=cards,
            base=base,
            csrf_token=await _csrf_token(request, user.session_id),
            mcp_url=f"{base}/mcp",
            mcp_config=mcp_config(base),
        )
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def mcp_config(base: str) -> str:
    """A copy-ready MCP client configuration for ``{base}/mcp`` (clients log in via OAuth)."""
    server = {"type": "http", "url": f"{base}/mcp"}
    return json.dumps({"mcpServers": {"oscar": server}}, indent=2)


async def _csrf_token(request: Request, session_id: str | None) -> str:
    if not session_id:
        return ""
    store = auth_state(request).sessions
    session = await store.get(session_id)
    return str(session.csrf_token) if session else ""


def card(service: Service, base: str) -> ServiceCard:
    """The portal card of ``service``: its UI spec, api_name, snippets and embed codes."""
    spec = parse_spec(service)
    api = api_name(spec)
    ui = f"{base}/ui/{service.name}"
    return ServiceCard(
        name=service.name,
        spec=spec,
        api_name=api,
        ui_url=f"{ui}/",
        snippets=snippets(spec, api, base, ui),
        embeds=embeds(ui),
    )


def snippets(spec: UISpec, api: str, base: str, ui: str) -> dict[str, str]:
    """Copy-ready code: REST API with curl, Gradio's call API, gradio_client, oscar-python."""
    name = spec.service
    sample = _sample(spec)
    is_file = sample is None
    rest_body = "--data-binary @input.file" if is_file else f"--data {_shell(_body(sample))}"
    content_type = "application/octet-stream" if is_file else _content_type(sample)
    data = gradio_data(spec, sample)
    gradio_arg = "handle_file('input.file')" if data is None else ", ".join(map(repr, data))
    file_data = {"path": "https://example.org/input.png", "meta": {"_type": "gradio.FileData"}}
    call_data = json.dumps({"data": [file_data] if data is None else data})
    auth = '-H "Authorization: Bearer $TOKEN"'
    return {
        "curl (REST API)": (
            f"curl -X POST {auth} -H 'Content-Type: {content_type}' \\\n"
            f"  {rest_body} \\\n  {base}/api/v1/services/{name}/run"
        ),
        "curl (Gradio API)": (
            f"EVENT=$(curl -s -X POST {auth} -H 'Content-Type: application/json' \\\n"
            f"  -d {_shell(call_data)} \\\n"
            f"  {ui}/gradio_api/call/{api} | {_EVENT_ID})\n"
            f"curl -N {auth} {ui}/gradio_api/call/{api}/$EVENT"
        ),
        "gradio_client": (
            "import os\nfrom gradio_client import Client, handle_file\n\n"
            f'client = Client("{ui}/",\n'
            '                headers={"Authorization": "Bearer " + os.environ["TOKEN"]})\n'
            f'result = client.predict({gradio_arg}, api_name="/{api}")\nprint(result)'
        ),
        "oscar-python": (
            "import os\nfrom oscar_python.client import Client\n\n"
            'client = Client({"cluster_id": "gateway",\n'
            f'                 "endpoint": "{base}/oscar",\n'
            '                 "oidc_token": os.environ["TOKEN"],\n'
            f'                 "ssl": {base.startswith("https")}}})\n'
            f'response = client.run_service("{name}", input={_py_input(sample)})\n'
            "print(response.text)"
        ),
    }


def embeds(ui: str) -> dict[str, str]:
    """An iframe (works with login) and Gradio's web component."""
    return {
        "iframe": (
            f'<iframe src="{ui}/" width="100%" height="720"\n'
            '        style="border:0" allow="clipboard-write; microphone"></iframe>'
        ),
        # Gradio's web component cannot send our login (no credentials attribute):
        # it suits public-embed services; the iframe suits everything else.
        "<gradio-app>": (
            '<script type="module"\n'
            f'  src="https://gradio.s3-us-west-2.amazonaws.com/{_gradio_version()}/gradio.js">'
            "</script>\n"
            f'<gradio-app src="{ui}/"></gradio-app>'
        ),
    }


def _sample(spec: UISpec) -> Any:
    """An example input for the snippets (None: a file)."""
    if spec.fields:
        return {f.name: f.default if f.default is not None else "" for f in spec.fields}
    return _SAMPLE_INPUT.get(spec.input)


def gradio_data(spec: UISpec, sample: Any) -> list[Any] | None:
    """The ``data`` list of a Gradio call (None: one file); custom UIs give ``EXAMPLE_DATA``."""
    module, _ = resolve(spec)
    custom = getattr(module, "EXAMPLE_DATA", None)
    if custom is not None:
        return list(custom)
    if sample is None:
        return None
    if spec.fields:
        return list(sample.values())
    return [json.dumps(sample) if isinstance(sample, dict) else sample]


def _gradio_version() -> str:
    try:
        return version("gradio")
    except PackageNotFoundError:
        return "6.31.0"


def _body(sample: Any) -> str:
    return json.dumps(sample) if isinstance(sample, dict) else str(sample)


def _content_type(sample: Any) -> str:
    return "application/json" if isinstance(sample, dict) else "text/plain"


def _py_input(sample: Any) -> str:
    return "'input.file'" if sample is None else repr(_body(sample))


def _shell(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def install_portal(app: FastAPI, settings: Settings) -> None:
    """``GET /``: the portal (after login)."""
    app.include_router(router)
