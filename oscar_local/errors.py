"""The errors oscar-local answers with, each rendered the way OSCAR renders it.

OSCAR's error bodies are short plain text (sometimes empty): ``HttpError``
carries the status and that text; the app turns it into a response.
"""

from __future__ import annotations


class HttpError(Exception):
    status_code = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HttpError):
    status_code = 400


class Unauthorized(HttpError):
    status_code = 401


class Forbidden(HttpError):
    status_code = 403


class NotFound(HttpError):
    status_code = 404


class PayloadTooLarge(HttpError):
    status_code = 413


class SupervisorError(HttpError):
    """The supervisor itself failed (e.g. undecodable body): OSCAR answers 500 ``exit status 1``."""

    status_code = 500


class StorageError(HttpError):
    status_code = 500


class GatewayTimeout(HttpError):
    """The service did not answer in time: Knative's queue-proxy gives up with 504."""

    status_code = 504
