"""``wait_until``: the one bounded poll of the tests (a broken system fails, never hangs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    check: Callable[[], Any],
    what: str,
    *,
    timeout: float = 10.0,
    interval: float = 0.1,
    describe: Callable[[], str] = lambda: "",
) -> Any:
    """Poll ``check`` until it returns something truthy, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what} {describe()}".rstrip())
