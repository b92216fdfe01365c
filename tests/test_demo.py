"""`make demo` runs `python -m devstack.demo`; its `--check` mode proves the stack comes up."""

import subprocess
import sys

from devstack.oscar import REPO


def test_demo_starts_the_whole_stack_and_alice_sees_her_services() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack.demo", "--check", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/readyz 200" in result.stdout
    # bob's private multi-output service is not alice's to see
    assert "'cowsay'" in result.stdout and "multi-output" not in result.stdout
