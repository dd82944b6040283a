"""An HTTP API of the example domains on the real PostgreSQL, driven by httpx through ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from acci.examples import users
from acci.http import HeaderIdentity, IdentityProvider, create_app
from acci.migrations import Migration, migrate, runtime_migrations
from acci.service import Service
from acci.settings import HttpSettings, Settings
from acci.store.postgres import PostgresEventStore
from fastapi import FastAPI

#: The development identity headers of tenant A's and tenant B's callers.
TENANT_A = {"X-Tenant-Id": "tenant-a", "X-User-Id": "alice"}
TENANT_B = {"X-Tenant-Id": "tenant-b", "X-User-Id": "bob"}


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    store: PostgresEventStore


def domain_service(domain: str) -> Service:
    module = __import__(f"{domain}.service", fromlist=["service"])
    service: Service = module.service
    return Service.of_domains(domain, [domain]) if not service.domains else service


@pytest_asyncio.fixture
async def open_api(acci_database_url: str) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """Opens the API of a domain: `await open_api("ordering", http=HttpSettings(...))`."""
    opened: list[tuple[PostgresEventStore, httpx.AsyncClient]] = []

    async def factory(
        domain: str, *, http: HttpSettings | None = None, identity: IdentityProvider | None = None
    ) -> Api:
        service = domain_service(domain)
        await migrate(acci_database_url, runtime_migrations() + list(service.migrations))
        store = await PostgresEventStore.open(acci_database_url, projections=service.projections)
        settings = Settings(http=http or HttpSettings(auth="headers"))
        app = create_app(service, settings=settings, store=store, identity=identity or HeaderIdentity())
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        opened.append((store, client))
        return Api(app, client, store)

    yield factory
    for store, client in opened:
        await client.aclose()
        await store.close()


@pytest.fixture(scope="session")
def acci_migrations() -> list[Migration]:
    """Test databases have the read models of the domains these tests serve (the User example's
    too, as everywhere in tests/): open_api's migrate then finds nothing to apply, and a test's
    database is emptied for the next test instead of dropped for having more tables than the
    template."""
    read_models = [m for domain in ("identity", "ordering") for m in domain_service(domain).migrations]
    return runtime_migrations() + users.migrations() + read_models
