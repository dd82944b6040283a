"""The HTTP API with tenants across databases (ACCI_TENANTS__DATABASES): the app opens a
TenantRouter and serves each request from its tenant's database, commands and reads alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from acci.database import with_database
from acci.migrations import migrate, runtime_migrations
from acci.settings import load_settings
from psycopg import sql

from tests.http.conftest import TENANT_A, TENANT_B, domain_service


@pytest.fixture
def second_database(acci_database_url: str) -> Iterator[str]:
    """Another database on the same server, dropped afterwards."""
    name = f"acci_http_tenants_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(acci_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(acci_database_url, name)
    finally:
        with psycopg.connect(acci_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def tenants_in(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT tenant_id FROM acci.events").fetchall()}


@pytest.mark.slow  # creates a database per tenant
async def test_each_request_is_served_from_its_tenants_database(
    acci_database_url: str, second_database: str
) -> None:
    from acci.http import create_app

    service = domain_service("identity")
    for url in (acci_database_url, second_database):
        await migrate(url, runtime_migrations() + list(service.migrations))
    settings = load_settings(
        database_url=acci_database_url,
        http={"auth": "headers"},
        tenants={"databases": {"b": second_database}, "routes": {TENANT_B["X-Tenant-Id"]: "b"}},
    )
    app = create_app(service, settings=settings)
    user = str(uuid.uuid4())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        for caller, name in ((TENANT_A, "Ada"), (TENANT_B, "Bob")):
            created = await client.post(
                f"/identity/users/{user}",
                json={"email": f"{name.lower()}@example.com", "name": name},
                headers=caller,
            )
            assert created.status_code == 200, created.json()
        # Each tenant reads its own user, from its own database.
        for caller, name in ((TENANT_A, "Ada"), (TENANT_B, "Bob")):
            state = await client.get(f"/identity/users/{user}", headers=caller)
            assert state.status_code == 200, state.json()
            assert state.json()["state"]["name"] == name
            events = await client.get(f"/identity/users/{user}/events", headers=caller)
            assert [e["type"] for e in events.json()["items"]] == ["UserCreated"]
    assert tenants_in(acci_database_url) == {TENANT_A["X-Tenant-Id"]}
    assert tenants_in(second_database) == {TENANT_B["X-Tenant-Id"]}
