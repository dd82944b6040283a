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
from acci.store.base import EventStore
from acci.store.postgres import PostgresEventStore
from acci.tenants import TenantRouter


@dataclass
class HttpContext:
    settings: HttpSettings
    identity: IdentityProvider
    cursors: Cursors
    #: The service's projections by name (a query waits for the one it reads).
    projections: Mapping[str, Projection] = field(default_factory=dict)
    #: Set when the app starts (its lifespan opens the store) or given by the caller.
    store: PostgresEventStore | None = None
    #: With tenant databases (ACCI_TENANTS__DATABASES): each request goes to its tenant's database.
    router: TenantRouter | None = None
    #: The commands' timestamp (`metadata.timestamp`); tests fix it to compare events exactly.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def open_store(self) -> PostgresEventStore:
        if self.store is None:  # pragma: no cover - requests are served only after startup
            raise RuntimeError("the HTTP API's event store is not open yet")
        return self.store

    async def store_for(self, tenant_id: str) -> PostgresEventStore:
        """The store that holds the tenant's streams and read models."""
        if self.router is not None:
            return await self.router.store_for(tenant_id)
        return self.open_store()

    def command_store(self) -> EventStore:
        """The store commands go through: with tenant databases, one that routes every call by the
        command's tenant (and waits out a move of that tenant)."""
        return self.router.event_store if self.router is not None else self.open_store()


def context_of(request: Request) -> HttpContext:
    """The HttpContext of the app that serves the request."""
    context = getattr(request.app.state, "acci", None)
    if not isinstance(context, HttpContext):
        raise RuntimeError("this app was not made by acci.http.create_app (app.state.acci is missing)")
    return context


async def http_context(request: Request) -> HttpContext:
    """The HttpContext as a dependency. async on purpose: FastAPI runs a plain `def` dependency
    in a worker thread, and that hop cost more CPU than the rest of the dependencies together."""
    return context_of(request)
