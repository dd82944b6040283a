"""/livez, /readyz and /metrics over HTTP, each readiness check failing and passing on a real
database; a busy port is one clear error."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from acci import NewEvent, PostgresEventStore, StreamId
from acci.errors import ConfigurationError
from acci.health import HealthReport, check_readiness
from acci.migrations import Migration, runtime_migrations
from acci.monitoring import MonitoringServer
from acci.projections import ProjectionRunner
from identity.events import UserCreated
from identity.projections import PROJECTIONS
from identity.service import service as identity


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


async def get(url: str) -> tuple[int, Any]:
    """GET from another thread: the server runs its checks on this test's event loop."""
    status, kind, body = await asyncio.to_thread(_get, url)
    return status, (json.loads(body) if kind == "application/json" else body.decode())


@pytest.fixture
async def server(postgres_store: PostgresEventStore) -> AsyncIterator[tuple[MonitoringServer, list[Any]]]:
    """A server whose readiness is the identity service's, with `bounds` to change per test."""
    wanted: list[Migration] = runtime_migrations() + list(identity.migrations)
    bounds: list[Any] = [60.0, None, wanted]

    async def readiness() -> HealthReport:
        return await check_readiness(
            postgres_store, PROJECTIONS, bounds[2], max_lag_seconds=bounds[0], max_lag_events=bounds[1]
        )

    monitor = MonitoringServer(readiness, host="127.0.0.1", port=0)
    monitor.start(asyncio.get_running_loop())
    try:
        yield monitor, bounds
    finally:
        await asyncio.to_thread(monitor.stop)


async def test_liveness_readiness_and_metrics(
    server: tuple[MonitoringServer, list[Any]], postgres_store: PostgresEventStore
) -> None:
    monitor, bounds = server
    assert monitor.port != 0
    assert await get(f"{monitor.url}/livez") == (
        200,
        {
            "ok": True,
            "checks": [
                {"name": "event_loop", "ok": True, "detail": "the service's event loop answers", "data": {}}
            ],
        },
    )
    status, ready = await get(f"{monitor.url}/readyz")
    assert status == 200 and ready["ok"], ready
    assert [c["name"] for c in ready["checks"]] == ["store", "migrations", "projection:user_view:lag"]

    # lag over the bound: 503, with the failing check and why
    await postgres_store.append(
        StreamId("t", "User", "u1"),
        [
            NewEvent.of(
                UserCreated(
                    user_id=UUID("6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f"),
                    email="a@b.cd",
                    name="A",
                    created_by="x",
                )
            )
        ],
    )
    bounds[1] = 0
    status, ready = await get(f"{monitor.url}/readyz")
    assert status == 503 and not ready["ok"]
    [failing] = [c for c in ready["checks"] if not c["ok"]]
    assert failing["name"] == "projection:user_view:lag" and "lags 1 events" in failing["detail"]
    await ProjectionRunner(postgres_store, PROJECTIONS[0]).catch_up()
    assert (await get(f"{monitor.url}/readyz"))[0] == 200

    # a halted projection
    async with postgres_store.pool.connection() as conn:
        await conn.execute("UPDATE acci.checkpoints SET status = 'halted' WHERE name = 'user_view'")
    status, ready = await get(f"{monitor.url}/readyz")
    assert status == 503 and "user_view is halted" in json.dumps(ready)

    status, text = await get(f"{monitor.url}/metrics")
    assert status == 200
    for family in (
        "acci_events_appended_total",
        "process_resident_memory_bytes",
        "python_gc_collections_total",
    ):
        assert family in text

    status, missing = await get(f"{monitor.url}/health")
    assert status == 404 and missing["paths"] == ["/livez", "/readyz", "/metrics"]


async def test_readiness_names_the_pending_migrations(
    server: tuple[MonitoringServer, list[Any]], postgres_store: PostgresEventStore
) -> None:
    monitor, _ = server
    async with postgres_store.pool.connection() as conn:
        await conn.execute("DELETE FROM acci.schema_migrations WHERE component = 'identity'")
    status, ready = await get(f"{monitor.url}/readyz")
    assert status == 503
    failing = [c for c in ready["checks"] if not c["ok"]]
    assert [c["name"] for c in failing] == ["migrations"]
    assert failing[0]["data"]["pending"] == [str(m) for m in identity.migrations]
    assert "run the service's `migrate`" in failing[0]["detail"]


async def test_readiness_fails_when_the_database_does_not_answer(acci_database_url: str) -> None:
    store = await PostgresEventStore.open(acci_database_url)
    await store.close()  # a closed pool: every check must fail, none may raise
    report = await check_readiness(store, PROJECTIONS, runtime_migrations(), answer_within=1)
    assert not report.ok and [c.name for c in report.checks] == ["store"]


async def test_a_busy_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def never() -> HealthReport:
            raise AssertionError

        with pytest.raises(ConfigurationError) as caught:
            MonitoringServer(never, port=port).start(asyncio.get_running_loop())
    message = str(caught.value)
    assert f"cannot serve health and metrics on 127.0.0.1:{port}: Address already in use" in message
    assert "ACCI_MONITORING__PORT" in message


@pytest.mark.slow  # waits out the probe's timeout
async def test_a_stuck_event_loop_fails_the_probe() -> None:
    async def readiness() -> HealthReport:
        return HealthReport([])

    monitor = MonitoringServer(readiness, port=0, timeout=0.5)
    monitor.start(asyncio.get_running_loop())
    try:
        # the loop is blocked while the request waits for it
        status, _, body = _get(f"{monitor.url}/livez")
    finally:
        monitor.stop()
    assert status == 503 and "no answer from the service's event loop within 0.5s" in body.decode()
