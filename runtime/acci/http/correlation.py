"""The correlation id of a request: the trace id of a W3C `traceparent`, else `X-Correlation-Id`,
else a new one. It becomes the commands' correlation id (so every event a request causes carries
it), is in every problem, and is returned in the `X-Correlation-Id` response header."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Correlation-Id"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
#: What a caller's own correlation id may look like: printable ASCII without spaces, bounded.
_GIVEN = re.compile(r"^[!-~]{1,128}$")


def correlation_id(headers: dict[str, str]) -> str:
    """The request's correlation id from its (lower-cased) headers; see the module docstring."""
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip())
    if match is not None and match[1] != "0" * 32:
        return match[1]
    given = headers.get(HEADER.lower(), "").strip()
    if _GIVEN.match(given):
        return given
    return uuid.uuid4().hex


class CorrelationMiddleware:
    """Sets `request.state.correlation_id` and the response header (pure ASGI: no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        value = correlation_id(headers)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["correlation_id"] = value

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER.lower().encode(), value.encode())]
            await send(message)

        await self.app(scope, receive, send_with_header)
