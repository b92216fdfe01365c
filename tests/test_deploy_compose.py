"""docker-compose.yml, the Dockerfile and the Keycloak realm: do the pieces fit?

No Docker engine runs here, so these read the files: structure, every GATEWAY_*
variable a real setting (and the gateway really starts its settings from them),
commands parsed by the real CLIs, ports and URLs agreeing across services.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack.nginx import TEMPLATE
from gateway.cli import build_parser as gateway_parser
from oscar_local.cli import build_parser as oscar_parser
from tests.settings_vars import setting_vars

ROOT = Path(__file__).resolve().parent.parent
_INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}")
# What an operator passes on the command line (README "Deployment").
HOST_ENV = {"SESSION_SECRET": "s" * 40}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, as `docker compose` does."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        name, kind, default = match.groups()
        if env.get(name):
            return env[name]
        if kind == ":?":
            raise KeyError(f"{name} must be set: {default}")
        return default or ""

    return _INTERPOLATION.sub(fill, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(interpolate(raw, HOST_ENV))


def service_env(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in service.get("environment", {}).items()}


def test_the_topology_has_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "nginx",
        "gateway-1",
        "gateway-2",
        "redis",
        "minio",
        "keycloak",
        "oscar",
    }
    for name in ("gateway-1", "gateway-2"):
        # Only Nginx is published; the replicas are reached through it.
        assert "ports" not in compose["services"][name]


def test_a_missing_session_secret_is_refused() -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    with pytest.raises(KeyError, match="SESSION_SECRET"):
        interpolate(raw, {})


@pytest.mark.parametrize("name", ["gateway-1", "gateway-2"])
def test_gateway_env_names_only_real_settings(compose: dict[str, Any], name: str) -> None:
    env = service_env(compose["services"][name])
    assert set(env) <= set(setting_vars()), set(env) - set(setting_vars())


def test_gateway_settings_load_from_the_compose_environment(compose: dict[str, Any]) -> None:
    env = service_env(compose["services"]["gateway-1"])
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    code = (
        "import json; from core.settings import Settings; s = Settings(); "
        "from auth.cookies import session_cookie_name; "
        "print(json.dumps({'root': s.root_path, 'backend': s.session.backend, "
        "'cookie': session_cookie_name(s), 'body': s.limits.max_body_bytes, "
        "'proxies': s.trusted_proxies, 'oscar': s.oscar.url}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        cwd=ROOT / "tests",  # no .env file there
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["root"] == "/oscar-gateway"
    assert loaded["backend"] == "redis"
    # Only Nginx's fixed address, inside the network's subnet, is trusted (issue 10 #1).
    nginx_address = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    assert loaded["proxies"] == [nginx_address]
    (subnet,) = compose["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_address(nginx_address) in ipaddress.ip_network(subnet["subnet"])
    assert loaded["oscar"] == "http://oscar:8080"
    nginx = service_env(compose["services"]["nginx"])
    assert nginx["NGINX_PREFIX"] == loaded["root"]
    assert nginx["NGINX_SESSION_COOKIE"] == loaded["cookie"]
    assert int(nginx["NGINX_MAX_BODY"]) == loaded["body"]


def test_one_variable_switches_to_a_real_oscar() -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    real = interpolate(raw, {**HOST_ENV, "OSCAR_URL": "https://oscar.example.org"})
    for name in ("gateway-1", "gateway-2"):
        env = service_env(real["services"][name])
        assert env["GATEWAY_OSCAR__URL"] == "https://oscar.example.org"


def test_gateway_commands_parse_and_ports_agree(compose: dict[str, Any]) -> None:
    nginx = service_env(compose["services"]["nginx"])
    upstreams = re.findall(r"server ([\w.-]+):(\d+)", nginx["NGINX_UPSTREAM_SERVERS"])
    assert sorted(host for host, _ in upstreams) == ["gateway-1", "gateway-2"]
    for host, port in upstreams:
        command = compose["services"][host]["command"]
        assert command[0] == "oscar-gateway"
        args = gateway_parser().parse_args(command[1:])
        assert args.command == "serve"
        assert args.host == "0.0.0.0"
        assert args.port == int(port)
    assert compose["services"]["nginx"]["ports"] == [f"{nginx['NGINX_LISTEN']}:8080"]


def test_nginx_gets_every_template_placeholder(compose: dict[str, Any]) -> None:
    placeholders = set(re.findall(r"\$\{(NGINX_[A-Z_]+)\}", TEMPLATE.read_text()))
    assert placeholders == set(service_env(compose["services"]["nginx"]))
    volumes = compose["services"]["nginx"]["volumes"]
    source, target, _ = volumes[0].split(":")
    assert (ROOT / source).resolve() == TEMPLATE
    assert target.startswith("/etc/nginx/templates/") and target.endswith(".template")


def test_local_oscar_command_parses_and_matches_the_gateway(compose: dict[str, Any]) -> None:
    services = compose["services"]
    command = services["oscar"]["command"]
    assert command[0] == "oscar-local"
    args = oscar_parser().parse_args(command[1:])
    gateway = service_env(services["gateway-1"])
    oscar_url = urlsplit(gateway["GATEWAY_OSCAR__URL"])
    assert (oscar_url.hostname, oscar_url.port) == ("oscar", args.port)
    assert args.oidc_issuers == [gateway["GATEWAY_OIDC__ISSUER"]]
    s3 = urlsplit(args.s3_endpoint)
    assert s3.hostname == "minio" and s3.port == 9000
    minio = service_env(services["minio"])
    assert (args.s3_access_key, args.s3_secret_key) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    for path in args.services:
        # Copied into the image by the Dockerfile from the repository's folder.
        assert (ROOT / str(path).removeprefix("/app/")).is_dir()


def test_redis_urls_point_at_the_redis_service(compose: dict[str, Any]) -> None:
    env = service_env(compose["services"]["gateway-1"])
    for key in ("GATEWAY_SESSION__REDIS_URL", "GATEWAY_JOBS__REDIS_URL"):
        assert urlsplit(env[key]).hostname == "redis"


def test_keycloak_realm_matches_the_gateway_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway = service_env(services["gateway-1"])
    keycloak = services["keycloak"]
    source, target, _ = keycloak["volumes"][0].split(":")
    assert target == "/opt/keycloak/data/import"
    realm = json.loads((ROOT / source / "oscar-realm.json").read_text())
    issuer = urlsplit(gateway["GATEWAY_OIDC__ISSUER"])
    assert issuer.path == f"/realms/{realm['realm']}"
    http_port = int(keycloak["command"][keycloak["command"].index("--http-port") + 1])
    assert issuer.hostname == "keycloak" and issuer.port == http_port
    assert keycloak["ports"] == [f"{http_port}:{http_port}"]
    (client,) = realm["clients"]
    assert client["clientId"] == gateway["GATEWAY_OIDC__CLIENT_ID"]
    assert client["secret"] == gateway["GATEWAY_OIDC__CLIENT_SECRET"]
    callback = gateway["GATEWAY_PUBLIC_URL"].rstrip("/") + "/auth/callback"
    assert client["redirectUris"] == [callback]
    audience = next(m for m in client["protocolMappers"] if m["name"].endswith("audience"))
    audiences = json.loads(gateway["GATEWAY_OIDC__AUDIENCES"])
    assert audience["config"]["included.client.audience"] in audiences
    # The demo users, with the ids (JWT `sub`) the demo services' owners name.
    users = {u["username"]: u for u in realm["users"]}
    assert set(users) == {"alice", "bob"}
    assert all(u["id"] == name for name, u in users.items())


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    steps = dockerfile_instructions()
    stages = [args for op, args in steps if op == "FROM"]
    assert len(stages) == 2
    assert all(re.match(r"python:\$\{PYTHON_VERSION\}-slim", s) for s in stages)
    assert stages[0].endswith("AS build")
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][1] :]
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert "[dev]" not in runs and "pip wheel" in runs and "--no-index" in runs
    assert "--from=build /wheels" in " ".join(args for op, args in runtime if op == "COPY")


def test_dockerfile_healthcheck_and_command_agree_with_the_cli() -> None:
    steps = dict(dockerfile_instructions()[::-1])  # last of each instruction wins
    command = json.loads(steps["CMD"])
    args = gateway_parser().parse_args(command[1:])
    assert command[0] == "oscar-gateway" and args.command == "serve"
    assert steps["EXPOSE"] == str(args.port)
    assert f"http://127.0.0.1:{args.port}/healthz" in steps["HEALTHCHECK"]


def test_dockerfile_copies_only_present_files_the_context_keeps() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", ".env", "tests", "**/node_modules"} <= ignored
    for op, args in dockerfile_instructions():
        if op != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert source not in ignored and source.split("/")[0] not in ignored
