"""Shared fixtures live in tests/fixtures/, one module per real thing we start."""

pytest_plugins = [
    "tests.fixtures.issuer",
]
