"""May this user use this service? OSCAR decides, asked with the user's own token, cached briefly.

The answer (the service as OSCAR shows it to the user) is cached
``ui.access_cache_seconds`` per user and service.  The last definition any
user was shown is kept per service for visitors with a service token (embed
links, public mode), who cannot read the definition themselves.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from core.errors import Forbidden, NotFound, Unavailable, UpstreamTimeout
from core.identity import User
from core.settings import Settings
from oscar.client import OscarClient
from oscar.models import Service

_MAX_ENTRIES = 10_000


class AccessCache:
    """``service_for(user, name)``; ``on_gone(name)`` is awaited when OSCAR says it is gone."""

    def __init__(
        self, settings: Settings, oscar: OscarClient, on_gone: Callable[[str], Awaitable[None]]
    ) -> None:
        self.settings = settings
        self.oscar = oscar
        self.on_gone = on_gone
        self._access: dict[tuple[str, str], tuple[float, Service]] = {}
        self._seen: dict[str, Service] = {}

    async def service_for(self, user: User, name: str) -> Service:
        """The service as OSCAR shows it to ``user``; OSCAR decides access (cached briefly)."""
        key = (user.sub, name)
        now = time.monotonic()
        cached = self._access.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            service = await self.oscar.get_service(name, auth=user.authorization)
        except (Unavailable, UpstreamTimeout):
            if cached is None:
                raise
            # OSCAR is down: let a user it recently admitted reach the UI, whose
            # handlers then say so as a Gradio error.
            return cached[1]
        except NotFound as exc:
            self._access.pop(key, None)
            self._seen.pop(name, None)
            await self.on_gone(name)
            raise NotFound(f"There is no service called {name!r} (any more).") from exc
        except Forbidden as exc:
            self._access.pop(key, None)
            raise Forbidden(
                f"You may not use the service {name!r}. Ask its owner to share it with you."
            ) from exc
        self._remember(key, service, now)
        return service

    def last_seen(self, name: str) -> Service | None:
        """The definition of ``name`` last shown to any user (for service-token visitors)."""
        return self._seen.get(name)

    def _remember(self, key: tuple[str, str], service: Service, now: float) -> None:
        if len(self._access) > _MAX_ENTRIES:
            self._access = {k: v for k, v in self._access.items() if v[0] > now}
        self._access[key] = (now + self.settings.ui.access_cache_seconds, service)
        self._seen[key[1]] = service
