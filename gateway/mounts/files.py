"""The dispatcher's file checks: a request to a mounted app names only files it may use.

``admit_files`` runs before Gradio sees a request (``uis.files`` explains
why): a JSON body naming a file this user did not upload to this app is
refused; ``file=`` serves a user only their own uploads and the results this
app's answers gave them; the answers of the upload routes are recorded as the
user's uploads, and the file paths in every other answer as the user's results.
"""

from __future__ import annotations

import json
import re

from starlette.types import Message, Receive, Scope, Send

from core.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from uis.files import AppFiles, file_refs, uploaded_paths

# Routes whose answer is a list of stored paths, recorded as the caller's uploads.
UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording")
# Routes that serve a stored file by path, or fetch a URL for the client.
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")
PROXY_ROUTES = ("/gradio_api/proxy=",)


async def admit_files(
    files: AppFiles,
    user: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    route: str,
    max_body: int,
) -> tuple[Receive, Send]:
    """Check a request to a mounted app for file names it may not use, before Gradio sees it.

    ``route`` is the path below the app (``/gradio_api/...``).  Returns the
    ``receive`` (the body replayed when it was read) and ``send`` (recording
    uploads, and the result files answers give this user) to forward with;
    raises the ``GatewayError`` to answer.
    """
    method = scope.get("method", "GET")
    if route.startswith(PROXY_ROUTES):
        raise Forbidden("This gateway does not fetch other sites' files for a UI.")
    if route.startswith(FILE_ROUTES) and method in ("GET", "HEAD"):
        name = route[len(FILE_ROUTES[0]) :]
        if not files.may_serve(user, name):
            raise NotFound("There is no such file in this service's results.")
        return receive, send
    if not route.startswith("/gradio_api/"):
        return receive, send
    if method != "POST":
        return receive, _recording_results(files, user, send)
    if route.startswith(UPLOAD_ROUTES):
        return receive, _recording_uploads(files, user, send)
    if _content_type(scope).startswith("multipart/"):
        raise BadRequest("Send files to the upload route first, then their paths.")
    body = await read_body(receive, max_body)
    check_body(files, user, body)
    return replay(body, receive), _recording_results(files, user, send)


def check_body(files: AppFiles, user: str, body: bytes) -> None:
    """Refuse a JSON body that names a file this user did not upload to this app."""
    if not body.strip():
        return
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadRequest("The request body must be JSON.") from exc
    for path in file_refs(data):
        if not files.may_read(user, path):
            raise Forbidden(
                "This request names a file that you did not upload to this service. "
                "Upload it first (the page's upload box, or gradio_client's handle_file) "
                "and send the path the upload answered."
            )


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with 413 past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"The request is larger than this gateway accepts ({limit:,} bytes)."
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands ``body`` over once, then passes on (the client's disconnect)."""
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying


def _recording_uploads(files: AppFiles, user: str, send: Send) -> Send:
    """A ``send`` that records the paths an upload answered as this user's uploads."""
    status = 0
    chunks: list[bytes] = []

    async def recording(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and status == 200:
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                files.record_uploads(user, uploaded_paths(b"".join(chunks)))
        await send(message)

    return recording


_PATH_FIELD = re.compile(rb'"path":\s*"((?:[^"\\]|\\.)*)"')
# An event stream's message may be cut between two chunks: keep this much of the last one.
_CARRY_BYTES = 8192


def result_paths(data: bytes) -> list[str]:
    """The ``"path"`` values of the file objects in an answer (JSON or an event stream)."""
    paths = []
    for match in _PATH_FIELD.finditer(data):
        try:
            paths.append(json.loads(b'"' + match.group(1) + b'"'))
        except ValueError:
            continue
    return paths


def _recording_results(files: AppFiles, user: str, send: Send) -> Send:
    """A ``send`` that records the result files an answer gives ``user`` (they may fetch them)."""
    carry = b""

    async def recording(message: Message) -> None:
        nonlocal carry
        if message["type"] == "http.response.body":
            data = carry + message.get("body", b"")
            files.record_results(user, result_paths(data))
            carry = data[-_CARRY_BYTES:]
        await send(message)

    return recording


def _content_type(scope: Scope) -> str:
    for key, value in scope.get("headers") or ():
        if key == b"content-type":
            return str(value.decode("latin-1")).lower()
    return ""
