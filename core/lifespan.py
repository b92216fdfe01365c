"""Reading the typed objects a lifespan yielded into Starlette's lifespan state."""

from __future__ import annotations

from typing import TypeVar

from starlette.requests import HTTPConnection

from core.errors import Unavailable

T = TypeVar("T")


def lifespan_value(connection: HTTPConnection, key: str, kind: type[T]) -> T:
    """The ``kind`` object the lifespan yielded under ``key`` (in every request's state)."""
    value = (connection.scope.get("state") or {}).get(key)
    if not isinstance(value, kind):
        raise Unavailable("The gateway is starting or stopping. Try again in a moment.")
    return value
