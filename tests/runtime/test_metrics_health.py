"""Metric values after a known sequence of operations; each health check failing and passing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from acci import (
    AggregateAlreadyExists,
    Command,
    CommandMetadata,
    ConcurrencyError,
    NewEvent,
    PostgresEventStore,
    Repository,
    StreamId,
    metrics,
)
from acci.examples.users import CreateUser, CreateUserHandler, User, UserUpdated
from acci.health import check_health
from acci.projections import ProjectionRunner, RunnerSettings, projection_status

from tests.runtime.projection_fixtures import FlakyUserProjection

ADMIN = CommandMetadata(user_id="admin", tenant_id="metrics")


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_after_a_known_sequence(postgres_store: PostgresEventStore) -> None:
    store = postgres_store
    before = {
        "created": value("acci_events_appended_total", event_type="UserCreated"),
        "updated": value("acci_events_appended_total", event_type="UserUpdated"),
        "conflicts": value("acci_concurrency_conflicts_total", aggregate_type="User"),
        "ok": value("acci_command_duration_seconds_count", command="CreateUser", outcome="ok"),
        "exists": value(
            "acci_command_duration_seconds_count", command="CreateUser", outcome="already_exists"
        ),
        "replayed": value("acci_command_duration_seconds_count", command="CreateUser", outcome="replayed"),
        "snapshots": value("acci_snapshot_size_bytes_count", aggregate_type="User"),
    }
    command = Command(CreateUser(user_id="m1", email="m1@example.com", name="M"), ADMIN)
    await CreateUserHandler(store).handle(command)
    await CreateUserHandler(store).handle(command)  # replayed
    with pytest.raises(AggregateAlreadyExists):
        await CreateUserHandler(store).handle(
            Command(CreateUser(user_id="m1", email="x@y.z", name="X"), ADMIN)
        )
    repo = Repository(store, User)
    stale = await repo.load("metrics", "m1")
    await repo.save(await repo.load("metrics", "m1"), [UserUpdated(user_id="m1", name="A")])
    with pytest.raises(ConcurrencyError):
        await repo.save(stale, [UserUpdated(user_id="m1", name="B")])
    await repo.save_snapshot(await repo.load("metrics", "m1"))

    assert value("acci_events_appended_total", event_type="UserCreated") - before["created"] == 1
    assert value("acci_events_appended_total", event_type="UserUpdated") - before["updated"] == 1
    assert value("acci_concurrency_conflicts_total", aggregate_type="User") - before["conflicts"] == 1
    assert (
        value("acci_command_duration_seconds_count", command="CreateUser", outcome="ok") - before["ok"] == 1
    )
    assert (
        value("acci_command_duration_seconds_count", command="CreateUser", outcome="already_exists")
        - before["exists"]
        == 1
    )
    assert (
        value("acci_command_duration_seconds_count", command="CreateUser", outcome="replayed")
        - before["replayed"]
        == 1
    )
    assert value("acci_snapshot_size_bytes_count", aggregate_type="User") - before["snapshots"] == 1
    assert b"acci_events_appended_total" in metrics.exposition()


async def test_projection_metrics(postgres_store: PostgresEventStore) -> None:
    store = postgres_store
    FlakyUserProjection.fixed = False
    for user_id, name in (("p1", "ok"), ("p2", "POISON")):
        await CreateUserHandler(store).handle(
            Command(CreateUser(user_id=user_id, email="e@x.y", name=name), ADMIN)
        )
    projection = FlakyUserProjection()
    await projection_status(store, projection)
    assert value("acci_projection_lag_events", projection="user_view") == 2
    handled_before = value("acci_projection_events_handled_total", projection="user_view")
    parked_before = value("acci_dead_letters_parked_total", projection="user_view")
    await ProjectionRunner(store, projection, RunnerSettings(max_attempts=1)).catch_up()
    await projection_status(store, projection)
    assert value("acci_projection_lag_events", projection="user_view") == 0
    assert value("acci_projection_lag_seconds", projection="user_view") == 0
    assert value("acci_dead_letters", projection="user_view") == 1
    assert value("acci_dead_letters_parked_total", projection="user_view") - parked_before == 1
    assert value("acci_projection_events_handled_total", projection="user_view") - handled_before == 2


async def test_health_checks_pass_and_fail(
    postgres_store: PostgresEventStore, acci_database_url: str
) -> None:
    store = postgres_store
    FlakyUserProjection.fixed = True
    projection = FlakyUserProjection()
    report = await check_health(store, [projection])
    assert report.ok, report.as_dict()
    assert [c.name for c in report.checks] == [
        "store",
        "recent_events",
        "projection:user_view:lag",
        "projection:user_view:dead_letters",
    ]

    # The guide's "no recent events" check.
    await store.append(StreamId("t", "X", "x"), [NewEvent({}, event_type="Old")])
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE acci.events SET \"timestamp\" = now() - interval '1 hour'")
    report = await check_health(store, max_event_age=timedelta(minutes=5))
    assert not report.ok
    assert "no recent events" in report.checks[1].detail
    assert (await check_health(store, max_event_age=timedelta(hours=2))).ok
    assert (await check_health(store, max_event_age=None)).ok

    # Projection lag over a threshold, then caught up.
    await CreateUserHandler(store).handle(Command(CreateUser(user_id="h1", email="e@x.y", name="ok"), ADMIN))
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE acci.events SET \"timestamp\" = now() - interval '10 minutes'")
    report = await check_health(store, [projection], max_event_age=None, max_lag_seconds=60)
    lag = report.checks[1]
    assert (lag.name, lag.ok) == ("projection:user_view:lag", False)
    assert "lags 1 events" in lag.detail
    await ProjectionRunner(store, projection).catch_up()
    assert (await check_health(store, [projection], max_event_age=None)).ok

    # Dead letters present.
    FlakyUserProjection.fixed = False
    await CreateUserHandler(store).handle(
        Command(CreateUser(user_id="h2", email="e@x.y", name="POISON"), ADMIN)
    )
    await ProjectionRunner(store, projection, RunnerSettings(max_attempts=1)).catch_up()
    report = await check_health(store, [projection], max_event_age=None)
    dead = report.checks[2]
    assert (dead.ok, dead.data) == (False, {"dead_letters": 1})
    assert "acci dead-letters list user_view" in dead.detail
    assert (await check_health(store, [projection], max_event_age=None, dead_letters_fail=False)).ok

    # The store not answering.
    await store.close()
    broken = await PostgresEventStore.open(acci_database_url)
    await broken.pool.close()
    report = await check_health(broken, [projection])
    assert not report.ok
    assert report.as_dict()["checks"][0]["name"] == "store"
