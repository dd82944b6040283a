"""The subject and stream convention of integration events.

A message's subject is `<domain>.<tenant>.<EventType>`: the publishing domain, the tenant the event
belongs to, and the public event type (its schema version travels in a header). Each domain
publishes to one stream, `ACCI_<DOMAIN>`, which holds the subjects `<domain>.>`. A consumer can
so filter by domain (`ordering.>`), tenant (`ordering.acme.>`) or type (`ordering.*.OrderPlaced`).

Subject tokens may not contain `.`, `*`, `>` or whitespace. Domains and public event types are
checked to be plain names; a tenant id may be anything, so every character of it outside
`[A-Za-z0-9_-]` is written as `%XX` (its UTF-8 bytes in hex), which keeps one token per tenant and
tells tenants apart (`a.b` -> `a%2Eb`).
"""

from __future__ import annotations

import re

from acci.errors import ConfigurationError

_DOMAIN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
_TENANT_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def check_domain(domain: str) -> str:
    if not _DOMAIN.match(domain):
        raise ConfigurationError(
            f"integration domain {domain!r} is not a valid name: use lower-case letters, digits and '_', "
            "starting with a letter (it becomes the first token of every subject)."
        )
    return domain


def check_public_type(event_type: str) -> str:
    if not _EVENT_TYPE.match(event_type):
        raise ConfigurationError(
            f"integration event type {event_type!r} is not a valid name: use a letter, then letters, "
            "digits or '_' (no '.': it becomes a subject token)."
        )
    return event_type


def tenant_token(tenant_id: str) -> str:
    """The tenant as one subject token (see the module docstring)."""
    if all(ch in _TENANT_SAFE for ch in tenant_id):
        return tenant_id
    return "".join(
        ch if ch in _TENANT_SAFE else "".join(f"%{byte:02X}" for byte in ch.encode()) for ch in tenant_id
    )


def subject_for(domain: str, tenant_id: str, event_type: str) -> str:
    return f"{domain}.{tenant_token(tenant_id)}.{event_type}"


def stream_name_for(domain: str) -> str:
    return f"ACCI_{domain.upper()}"


def domain_subjects(domain: str) -> str:
    """The subjects of every integration event of `domain`."""
    return f"{domain}.>"
