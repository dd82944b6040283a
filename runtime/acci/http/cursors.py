"""Opaque page cursors: where the next page of a keyset-paged query (or of an event history)
starts, as base64url of JSON, signed with HMAC-SHA256 when `ACCI_HTTP__CURSOR_SECRET` is set.

A cursor names what it is for (the query), so one cannot be replayed on another; its content is
validated again when it comes back (a keyset row by the query's row model). Whatever is wrong
with a cursor, the answer is a 422 problem, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from acci.http.problems import FieldProblem, HttpProblem

#: The longest cursor accepted (a row of a read model, encoded).
MAX_CURSOR_LENGTH = 8192


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def invalid_cursor(detail: str) -> HttpProblem:
    return HttpProblem(
        422,
        "invalid-cursor",
        "The page cursor is invalid",
        f"the cursor is invalid: {detail}. Use the `next` of the previous page as it is, or leave it out "
        "for the first page.",
        errors=[FieldProblem(field="query.cursor", message=detail)],
    )


class Cursors:
    """Encodes and decodes the cursors of one service (one secret)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret

    def _signature(self, body: bytes) -> bytes:
        assert self._secret is not None
        return hmac.new(self._secret, body, hashlib.sha256).digest()

    def encode(self, kind: str, value: Any) -> str:
        body = json.dumps({"k": kind, "v": value}, separators=(",", ":"), sort_keys=True).encode()
        if self._secret is None:
            return _b64(body)
        return f"{_b64(body)}.{_b64(self._signature(body))}"

    def decode(self, kind: str, cursor: str) -> Any:
        """The value encoded for `kind`; HttpProblem 422 for anything else."""
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise invalid_cursor("it is too long")
        text, _, signature = cursor.partition(".")
        try:
            body = _unb64(text)
            if self._secret is not None:
                if not hmac.compare_digest(_unb64(signature), self._signature(body)):
                    raise invalid_cursor("its signature does not match")
            elif signature:
                raise invalid_cursor("it is not one this service made")
            data = json.loads(body)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise invalid_cursor("it is not one this service made") from None
        if not isinstance(data, dict) or data.get("k") != kind or "v" not in data:
            raise invalid_cursor(f"it is not a cursor of {kind}")
        return data["v"]
