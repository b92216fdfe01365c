"""schemathesis over ``/api/v1`` against a live gateway and local OSCAR: never a 5xx."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.idp import fetch_tokens
from tests.fixtures.gateway import Stack


def test_api_v1_never_answers_5xx(stack: Stack, tmp_path: Path) -> None:
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is not installed (pip install -e .[dev])"
    result = subprocess.run(
        [
            cli,
            "run",
            f"{stack.gateway.url}/api/v1/openapi.json",
            "--url",
            stack.gateway.url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--request-timeout",
            "60",
            "--generation-deterministic",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SCHEMATHESIS_HOOKS": ""},
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", report)
    assert cases and cases.group(1) == cases.group(2) and int(cases.group(1)) > 50, report
    assert "unexpected error" not in stack.gateway.output()
