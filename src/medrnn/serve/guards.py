"""The outer layer of every request: a request id, the body size bound (413), the bearer token (401) and one log line
with id, method, route, status, sizes and time; never a body, a file name, a note, a signal or a SMILES."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from typing import Any

log = logging.getLogger("medrnn.serve")
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class BodyTooLarge(Exception):
    """The body grew past the limit while it was read."""


def error_body(status: int, message: str, field: str | None, request_id: str | None) -> bytes:
    """The JSON of an ErrorOut."""
    return json.dumps({"status": status, "field": field, "message": message, "request_id": request_id}).encode()


def is_open(path: str) -> bool:
    """Routes that need no token: probes, the page, its assets, the API docs and explanation figures (their links hold
    a random 128-bit id, handed only to the client that asked: an <img> cannot send a header)."""
    return path in ("/", "/health", "/ready", "/docs", "/openapi.json", "/favicon.ico") or path.startswith(("/static/", "/explanations/"))


class Guard:
    """ASGI middleware: request id, size limit, token and access log around the app."""

    def __init__(self, app: Any, max_request_bytes: int, token: str | None) -> None:
        self.app, self.limit, self.token = app, max_request_bytes, token

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        rid = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        t0, sizes, status = time.perf_counter(), {"in": 0, "out": 0}, [0]

        async def send_logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            elif message["type"] == "http.response.body":
                sizes["out"] += len(message.get("body", b""))
            await send(message)

        async def refuse(code: int, text: str, field: str | None, extra: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
            body = error_body(code, text, field, rid)
            await send_logged({"type": "http.response.start", "status": code,
                               "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]})
            await send_logged({"type": "http.response.body", "body": body})

        try:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                await refuse(413, f"request body of {length} bytes; at most {self.limit} bytes", "body")
            elif self.token is not None and not is_open(scope["path"]) and not self._authorised(headers.get("authorization", "")):
                await refuse(401, "missing or wrong bearer token: send 'Authorization: Bearer TOKEN'", "authorization",
                             [(b"www-authenticate", b"Bearer")])
            else:
                await self.app(scope, self._bounded(receive, sizes), send_logged)
        except BodyTooLarge:
            if status[0] == 0:
                await refuse(413, f"request body over {self.limit} bytes", "body")
        finally:
            log.info("request_id=%s method=%s route=%s status=%s bytes_in=%d bytes_out=%d ms=%.1f", rid, scope.get("method"),
                     route_of(scope["path"]), status[0], sizes["in"], sizes["out"], 1000 * (time.perf_counter() - t0))

    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), (self.token or "").encode())

    def _bounded(self, receive: Any, sizes: dict[str, int]) -> Any:
        async def wrapped() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                sizes["in"] += len(message.get("body", b""))
                if sizes["in"] > self.limit:
                    raise BodyTooLarge
            return message

        return wrapped


def route_of(path: str) -> str:
    """The route template of a path, for logs (model names kept, explanation file names dropped)."""
    if path.startswith("/explanations/"):
        return "/explanations/{id}/{file}"
    return path[:80]
