"""Optimistic concurrency and idempotency over HTTP.

`Idempotency-Key` becomes the command id: a UUID as it is, any other key the UUID5 of it (in a
namespace of its own), so a retry of a request is the same command, handled once, answered with
the first result. `If-Match: "<version>"` is the version the sender saw (the ETag of the
aggregate's GET): the command is handled only if the aggregate is still at that version.
"""

from __future__ import annotations

import re
import uuid

from acci.http.problems import HttpProblem

IDEMPOTENCY_KEY = "Idempotency-Key"
#: The namespace of the command ids derived from idempotency keys that are not UUIDs.
KEY_NAMESPACE = uuid.UUID("0b8f4a52-2a4e-5f0e-9d8c-6a1d3c2b1a00")
MAX_KEY_LENGTH = 255
#: An If-Match of one version, as the ETags of the API write them.
ETAG_PATTERN = r'^(W/)?"[0-9]{1,18}"$'
_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,18})"\s*$')


def command_id(key: str | None) -> uuid.UUID:
    """The command id of a request: from its idempotency key, or new."""
    if key is None:
        return uuid.uuid4()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise HttpProblem(
            400,
            "bad-idempotency-key",
            "Malformed Idempotency-Key",
            f"the {IDEMPOTENCY_KEY} header must be 1 to {MAX_KEY_LENGTH} characters (a UUID is best).",
        )
    try:
        return uuid.UUID(key)
    except ValueError:
        return uuid.uuid5(KEY_NAMESPACE, key)


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header names: None without one; 400 if malformed."""
    if if_match is None:
        return None
    match = _ETAG.match(if_match)
    if match is None:
        raise HttpProblem(
            400,
            "bad-if-match",
            "Malformed If-Match",
            "If-Match must be one version in quotes, as the ETag of the aggregate's GET gives it: "
            'If-Match: "3".',
        )
    return int(match[1])


def etag(version: int) -> str:
    return f'"{version}"'
