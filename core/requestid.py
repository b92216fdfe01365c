"""The id of the request being served: set by the gateway's middleware, read by log lines.

A ``ContextVar``, so each task (and what it awaits) sees its own request's id.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")

request_id_var: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served by this task, if any."""
    return request_id_var.get()


def accept_request_id(incoming: str | None) -> str:
    """Keep a caller's id when it is a sane token (Nginx's $request_id is), else make one."""
    if incoming and _SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex
