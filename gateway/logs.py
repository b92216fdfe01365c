"""Structured logs: one JSON object per line, with the request id, and no secrets.

``logging_config(level)`` is a ``logging.config.dictConfig`` dictionary that the
CLI hands to uvicorn, so uvicorn's own loggers print the same JSON.  Every
handler carries ``RedactSecrets``: code should never log a token, a cookie or
an authorization code, and this filter is the last line of defence if it does.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from core.requestid import current_request_id

REDACTED = "[redacted]"

# Fields that the access log line (and others) may pass through ``extra=``.
_EXTRA_FIELDS = ("method", "path", "status", "duration", "route", "client")

_SENSITIVE = (
    r"access_token|refresh_token|id_token|token|code|state|client_secret|secret|password"
    r"|api_key|apikey|session|[a-z_]*_session|[a-z_]*_token|[a-z_]*_secret"
    # Presigned S3 URLs carry their credentials in the query string.
    r"|x-amz-signature|x-amz-credential|x-amz-security-token|signature"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values: "Bearer <token>", "Basic <b64>".
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {REDACTED}"),
    # Header dumps: "Cookie: a=b; c=d", "Authorization: ..." up to the end of the value.
    (
        re.compile(r"\b(cookie|set-cookie|authorization)(['\"]?\s*[:=]\s*['\"]?)[^'\"\n]+", re.I),
        rf"\1\2{REDACTED}",
    ),
    # key=value pairs in query strings, cookies and form bodies; "key": "value" in JSON.
    (re.compile(rf"\b({_SENSITIVE})=[^&;\s\"',]+", re.IGNORECASE), rf"\1={REDACTED}"),
    (re.compile(rf"(\"(?:{_SENSITIVE})\"\s*:\s*)\"[^\"]*\"", re.IGNORECASE), rf'\1"{REDACTED}"'),
    # Anything shaped like a JWT, and OSCAR service tokens (64 lowercase hex).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b[0-9a-f]{64}\b"), REDACTED),
)


def redact(text: str) -> str:
    """``text`` with token-, cookie- and password-looking values replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrite each record's message (and exception text) with secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, then the access fields when present."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                value = getattr(record, name)
                entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, default=str)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """dictConfig for the gateway process: JSON lines on stdout, redacted."""
    level = level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
        "formatter": "json",
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            # The gateway writes its own access line (with request id and route).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
