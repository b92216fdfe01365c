"""Where a login may send the browser back to: only a relative path under our prefix.

An open redirect after login is a phishing tool (OWASP "Unvalidated Redirects
and Forwards"), so ``next`` is checked, not trusted: it must be a plain
absolute path (``/...``) under ``root_path``, with no scheme, no authority, no
backslash (browsers read ``/\\evil.example`` as ``//evil.example``), no control
characters, and it must stay so once percent-decoded (``/%2F%2Fevil.example``).
Anything else falls back to the home page; the caller decides whether that is
an error (``/auth/login`` answers 400 so a bad link is noticed).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from core.errors import BadRequest

_MAX_LENGTH = 2048


def is_safe_next(value: str, root_path: str) -> bool:
    """True when ``value`` is a same-site path under ``root_path``."""
    if not value or len(value) > _MAX_LENGTH:
        return False
    # Decode twice: a proxy or browser may undo one level of encoding before we see it.
    for candidate in (value, unquote(value), unquote(unquote(value))):
        if not _is_plain_path(candidate):
            return False
    path = urlsplit(value).path
    root = root_path.rstrip("/")
    return not root or path == root or path.startswith(root + "/")


def _is_plain_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith("//"):
        return False
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def checked_next(value: str | None, root_path: str) -> str:
    """``value`` when safe, the home page when absent; ``BadRequest`` when off-site."""
    home = (root_path.rstrip("/") or "") + "/"
    if value is None or value == "":
        return home
    if not is_safe_next(value, root_path):
        raise BadRequest(
            "The 'next' address is not a page of this site, so the login will not go there. "
            "Open the page you want from this site and log in from it."
        )
    return value


def safe_or_home(value: str | None, root_path: str) -> str:
    """``value`` when safe, else the home page (for values read back from our own store)."""
    home = (root_path.rstrip("/") or "") + "/"
    return value if value and is_safe_next(value, root_path) else home
