"""Who is calling: the one ``User`` every protected route receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

UserKind = Literal["session", "bearer", "service_token"]


@dataclass(frozen=True)
class User:
    """An authenticated caller.

    ``access_token`` is what the gateway forwards to OSCAR as
    ``Authorization: Bearer <access_token>``: the user's own OIDC access token
    (kinds ``session`` and ``bearer``) or an OSCAR service token
    (``service_token``, valid for ``service`` only).  It is never logged.
    """

    sub: str
    kind: UserKind
    access_token: str = field(repr=False)
    name: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()
    # For kind == "service_token": the only service this credential may call.
    service: str | None = None
    # For kind == "session": the server-side session id (never logged) and its expiry.
    session_id: str | None = field(default=None, repr=False)
    expires_at: float | None = None

    @property
    def authorization(self) -> str:
        """The Authorization header value to send to OSCAR on this user's behalf."""
        return f"Bearer {self.access_token}"

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.sub
