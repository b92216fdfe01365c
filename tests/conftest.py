"""Shared fixtures live in tests/fixtures/, one module per real thing we start."""

import pytest

pytest_plugins = [
    "tests.fixtures.issuer",
    "tests.fixtures.oscar",
    "tests.fixtures.idp",
    "tests.fixtures.redis",
    "tests.fixtures.gateway",
    "tests.fixtures.client",
    "tests.fixtures.deploy",
    "tests.fixtures.browser",
]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the gateway's loop), not trio."""
    return "asyncio"
