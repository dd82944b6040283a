"""What a running HTTP API holds for its requests: the store, the settings, who calls, the
cursors and the read models queries may wait for. `create_app` puts one on `app.state.acci`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request

from acci.http.cursors import Cursors
from acci.http.identity import IdentityProvider
from acci.projections.base import Projection
from acci.settings import HttpSettings
from acci.store.postgres import PostgresEventStore


@dataclass
class HttpContext:
    settings: HttpSettings
    identity: IdentityProvider
    cursors: Cursors
    #: The service's projections by name (a query waits for the one it reads).
    projections: Mapping[str, Projection] = field(default_factory=dict)
    #: Set when the app starts (its lifespan opens the store) or given by the caller.
    store: PostgresEventStore | None = None
    #: The commands' timestamp (`metadata.timestamp`); tests fix it to compare events exactly.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def open_store(self) -> PostgresEventStore:
        if self.store is None:  # pragma: no cover - requests are served only after startup
            raise RuntimeError("the HTTP API's event store is not open yet")
        return self.store


def http_context(request: Request) -> HttpContext:
    context = getattr(request.app.state, "acci", None)
    if not isinstance(context, HttpContext):
        raise RuntimeError("this app was not made by acci.http.create_app (app.state.acci is missing)")
    return context
