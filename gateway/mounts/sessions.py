"""Gradio's per-session state of a mounted app, dropped once nobody can use it again.

Every event a Gradio app runs belongs to a session (``session_hash``), and Gradio
keeps, per session, a ``SessionState`` in ``state_holder`` (a copy of the app's
config for that session: ~20 KB for cowsay), an ``asyncio.Queue`` of pending
messages and the set of its pending event ids.  A browser tab keeps one session
for many events; a ``/gradio_api/call/<api>`` client sends none, so each call
gets a fresh session named after its event, used once.  Gradio frees none of it
while the app lives (``state_holder`` only past 10,000 sessions, the empty id
sets never): under steady ``/call`` traffic that was the gateway's memory
growth (issue 18, ≈20 KB per call).

``Sessions`` records which sessions are one-shot ``/call`` ones (they pushed an
event without a session hash) and ``prune()`` (run by the dispatcher's sweeper)
drops a session's state everywhere Gradio keeps it:

- a one-shot session as soon as its result was delivered (no event of it is
  queued, running or waiting for its stream);
- any session with nothing queued or running that has not been used for
  ``ui.session_idle_seconds`` (browser tabs gone, results nobody fetched);

and at most ``ui.max_sessions`` sessions (and per-event records) are kept per app.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("gateway.mounts")


def bound_gradio_tables(blocks: Any, max_sessions: int) -> None:
    """Cap Gradio's own per-session and per-event tables of ``blocks`` (before mounting)."""
    blocks.state_session_capacity = max_sessions
    # Per-event timings for the API page's estimates; Gradio keeps 10,000 by default.
    blocks._queue.ANALYTICS_MAX_EVENTS = max_sessions
    # Not ``pending_messages_per_session.max_size``: evicting the messages of a session
    # whose event is still queued crashes the queue's loop (KeyError in send_message).


class Sessions:
    """The sessions of one mounted app's Gradio queue (see module docstring)."""

    def __init__(self, blocks: Any, *, idle_seconds: float, max_sessions: int) -> None:
        self.blocks = blocks
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        # Session hash -> when it was last seen in use (monotonic seconds).
        self._last_used: dict[str, float] = {}
        # Sessions made for one event by a client that sent no session hash.
        self._one_shot: set[str] = set()
        self._wrap_push(blocks._queue)

    def _wrap_push(self, queue: Any) -> None:
        push: Callable[..., Awaitable[tuple[bool, str, str]]] = queue.push

        async def recording_push(*, body: Any, **kwargs: Any) -> tuple[bool, str, str]:
            one_shot = getattr(body, "session_hash", None) is None
            success, event_id, state = await push(body=body, **kwargs)
            if success and one_shot:
                # Gradio names such a session after its event (queueing.Event).
                self._one_shot.add(body.session_hash or event_id)
            return success, event_id, state

        queue.push = recording_push

    def held(self) -> set[str]:
        """Every session some Gradio table of this app still holds."""
        queue = self.blocks._queue
        holder = getattr(self.blocks, "state_holder", None)
        held = set(queue.pending_messages_per_session) | set(queue.pending_event_ids_session)
        if holder is not None:
            held |= set(holder.session_data)
        return held

    def prune(self, now: float | None = None) -> int:
        """Drop the sessions nobody can use any more; returns how many are still held."""
        now = time.monotonic() if now is None else now
        busy = self._busy()
        held = self.held()
        idle: list[tuple[float, str]] = []
        for session in held:
            if session in busy:
                self._last_used[session] = now
                continue
            last = max(self._last_used.setdefault(session, now), self._holder_used(session, now))
            self._last_used[session] = last
            delivered = not self.blocks._queue.pending_event_ids_session.get(session)
            if (session in self._one_shot and delivered) or now - last > self.idle_seconds:
                self.drop(session)
            else:
                idle.append((last, session))
        # Over the cap: the least recently used idle sessions go first.
        kept = len(busy & held) + len(idle)
        over = kept - self.max_sessions
        for _, session in sorted(idle)[: max(0, over)]:
            self.drop(session)
        # Sessions Gradio evicted itself (past its capacity) are forgotten here too.
        held = self.held()
        for session in [s for s in self._last_used if s not in held]:
            self._forget(session)
        self._one_shot &= held
        return len(held)

    def _busy(self) -> set[str]:
        """Sessions with an event queued or running."""
        queue = self.blocks._queue
        return {event.session_hash for event in list(queue.event_ids_to_events.values())}

    def _holder_used(self, session: str, now: float) -> float:
        """When Gradio last read the session's state (it stamps every use), in our clock."""
        holder = getattr(self.blocks, "state_holder", None)
        stamp = holder.time_last_used.get(session) if holder is not None else None
        if not isinstance(stamp, datetime.datetime):
            return float("-inf")
        return now - (datetime.datetime.now() - stamp).total_seconds()

    def drop(self, session: str) -> None:
        """Remove ``session`` from every table Gradio keeps per session, as its own
        ``/heartbeat`` close and ``StateHolder`` eviction would."""
        from gradio import caching

        queue = self.blocks._queue
        holder = getattr(self.blocks, "state_holder", None)
        if holder is not None and session in holder.session_data:
            holder.delete_state(session)  # runs gr.State delete callbacks
            with holder.lock:
                holder.session_data.pop(session, None)
                holder.time_last_used.pop(session, None)
        queue.pending_messages_per_session.pop(session, None)
        queue.pending_event_ids_session.pop(session, None)
        for run in getattr(self.blocks, "pending_streams", {}).pop(session, {}).values():
            for stream in run.values():
                stream.end_stream()
        caching.clear_session_caches(session)
        self._forget(session)

    def _forget(self, session: str) -> None:
        self._last_used.pop(session, None)
        self._one_shot.discard(session)
