"""Shared fixtures live in tests/fixtures/, one module per real thing we start."""

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
