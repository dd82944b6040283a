"""The EventStore contract: the PostgreSQL store and the in-memory store must both pass it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from acci import (
    ANY,
    NO_STREAM,
    START,
    ConcurrencyError,
    ConfigurationError,
    DuplicateCommandError,
    DuplicateEventError,
    EventMetadata,
    EventStore,
    NewEvent,
    Snapshot,
    StreamId,
)

USER = StreamId("tenant-a", "User", "user-1")


def event(n: int, event_type: str = "Thing") -> NewEvent:
    return NewEvent({"n": n, "text": f"event {n}"}, event_type=event_type)


async def test_stored_events_read_back_equal(store: EventStore) -> None:
    meta = EventMetadata(correlation_id="corr-1", user_id="admin", causation_id="cmd-1", extra={"ip": "::1"})
    appended = await store.append(USER, [event(1), event(2)], NO_STREAM, metadata=meta)
    read = await store.read_stream(USER)
    assert read == appended
    assert [e.version for e in read] == [1, 2]
    assert read[0].data == {"n": 1, "text": "event 1"}
    assert read[0].metadata == EventMetadata("corr-1", "admin", "cmd-1", "tenant-a", {"ip": "::1"})
    assert read[0].aggregate_type == "User" and read[0].aggregate_id == "user-1"
    assert read[0].position < read[1].position


async def test_no_stream_refuses_an_existing_stream(store: EventStore) -> None:
    await store.append(USER, [event(1)], NO_STREAM)
    with pytest.raises(ConcurrencyError) as caught:
        await store.append(USER, [event(2)], NO_STREAM)
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert caught.value.stream == USER
    assert "User 'user-1'" in str(caught.value) and "expected no stream, found version 1" in str(caught.value)
    assert len(await store.read_stream(USER)) == 1


async def test_exact_version_conflict_writes_nothing(store: EventStore) -> None:
    await store.append(USER, [event(1), event(2)], NO_STREAM)
    with pytest.raises(ConcurrencyError) as caught:
        await store.append(USER, [event(3), event(4), event(5)], 1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert [e.version for e in await store.read_stream(USER)] == [1, 2]
    await store.append(USER, [event(3)], 2)
    assert await store.stream_version(USER) == 3


async def test_expected_version_of_a_missing_stream_is_a_conflict(store: EventStore) -> None:
    with pytest.raises(ConcurrencyError) as caught:
        await store.append(USER, [event(1)], 4)
    assert caught.value.actual == 0


async def test_any_version_appends_in_order(store: EventStore) -> None:
    await store.append(USER, [event(1)], ANY)
    await store.append(USER, [event(2), event(3)], ANY)
    assert [e.data["n"] for e in await store.read_stream(USER)] == [1, 2, 3]


async def test_many_events_append_atomically(store: EventStore) -> None:
    batch = [event(n) for n in range(1, 201)]
    recorded = await store.append(USER, batch, NO_STREAM)
    assert [e.version for e in recorded] == list(range(1, 201))
    positions = [e.position for e in recorded]
    assert positions == sorted(positions)
    assert len({p.transaction_id for p in positions}) == 1


async def test_a_duplicate_event_id_is_its_own_error_and_writes_nothing(store: EventStore) -> None:
    first = event(1)
    other = StreamId("tenant-a", "User", "user-2")
    await store.append(USER, [first], NO_STREAM)
    for events in ([event(2), first], [event(3)] * 2):  # stored before, or twice in one append
        with pytest.raises(DuplicateEventError) as caught:
            await store.append(other, events, NO_STREAM)
        assert (caught.value.stream, caught.value.event_id) == (other, events[1].event_id)
        assert str(caught.value).startswith(f"event id {events[1].event_id} appended to User 'user-2'")
        assert "nothing was written" in str(caught.value)
        assert await store.read_stream(other) == []
        assert await store.stream_version(other) == 0
    # The failed appends claimed nothing: the stream can still be created.
    await store.append(other, [event(4)], NO_STREAM)


async def test_negative_expected_version_is_refused(store: EventStore) -> None:
    with pytest.raises(ConfigurationError, match="expected_version -3"):
        await store.append(USER, [event(1)], -3)


async def test_metadata_of_another_tenant_is_refused(store: EventStore) -> None:
    with pytest.raises(ConfigurationError, match="own tenant"):
        await store.append(USER, [event(1)], metadata=EventMetadata(tenant_id="tenant-b"))


async def test_read_from_and_up_to_a_version(store: EventStore) -> None:
    await store.append(USER, [event(n) for n in range(1, 11)], NO_STREAM)
    assert [e.version for e in await store.get_events(USER, 7)] == [8, 9, 10]
    assert [e.version for e in await store.read_stream(USER, to_version=3)] == [1, 2, 3]
    assert [e.version for e in await store.read_stream(USER, from_version=4, to_version=6)] == [5, 6]


async def test_read_as_of_a_time(store: EventStore) -> None:
    await store.append(USER, [event(1)], NO_STREAM)
    await asyncio.sleep(0.02)
    between = datetime.now(UTC)
    await asyncio.sleep(0.02)
    await store.append(USER, [event(2)], 1)
    assert [e.version for e in await store.read_stream(USER, as_of=between)] == [1]
    assert await store.read_stream(USER, as_of=between - timedelta(days=1)) == []
    assert len(await store.read_stream(USER, as_of=datetime.now(UTC))) == 2


async def test_two_tenants_same_aggregate_id_are_two_streams(store: EventStore) -> None:
    a = StreamId("tenant-a", "User", "same")
    b = StreamId("tenant-b", "User", "same")
    await store.append(a, [event(1)], NO_STREAM)
    await store.append(b, [event(100), event(101)], NO_STREAM)
    assert [e.data["n"] for e in await store.read_stream(a)] == [1]
    assert [e.data["n"] for e in await store.read_stream(b)] == [100, 101]
    assert {e.tenant_id for e in await store.read_all(tenant_id="tenant-b")} == {"tenant-b"}
    assert len(await store.read_all()) == 3


async def test_read_all_in_global_order_with_filters(store: EventStore) -> None:
    streams = [StreamId("t", "Order", f"o{i}") for i in range(3)]
    for round_ in range(3):
        for stream in streams:
            await store.append(stream, [event(round_, "Placed" if round_ == 0 else "Changed")])
    everything = await store.read_all()
    assert len(everything) == 9
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    placed = await store.read_all(event_types=["Placed"])
    assert [e.aggregate_id for e in placed] == ["o0", "o1", "o2"]
    # Paging from a checkpoint returns the rest, once.
    first_page = await store.read_all(limit=4)
    rest = await store.read_all(first_page[-1].position)
    assert [e.id for e in first_page + rest] == [e.id for e in everything]
    assert await store.read_all(everything[-1].position) == []
    assert await store.read_all(START, event_types=[]) == []


async def test_snapshot_upsert_keeps_the_newest(store: EventStore) -> None:
    now = datetime.now(UTC)
    await store.save_snapshot(Snapshot(USER, 5, '{"v": 5}', "h1", now))
    await store.save_snapshot(Snapshot(USER, 3, '{"v": 3}', "h1", now))
    loaded = await store.load_snapshot(USER)
    assert loaded is not None and loaded.version == 5
    await store.save_snapshot(Snapshot(USER, 9, '{"v": 9}', "h1", now))
    loaded = await store.load_snapshot(USER)
    assert loaded is not None and (loaded.version, loaded.schema_hash) == (9, "h1")
    # A new state schema replaces the snapshot whatever its version.
    await store.save_snapshot(Snapshot(USER, 2, '{"w": 2}', "h2", now))
    loaded = await store.load_snapshot(USER)
    assert loaded is not None and (loaded.version, loaded.schema_hash) == (2, "h2")
    assert await store.load_snapshot(StreamId("tenant-b", "User", "user-1")) is None


async def test_a_command_id_is_recorded_once(store: EventStore) -> None:
    command_id = uuid.uuid4()
    first = await store.append(
        USER, [event(1), event(2)], NO_STREAM, command_id=command_id, command_type="Make"
    )
    with pytest.raises(DuplicateCommandError):
        await store.append(USER, [event(3)], 2, command_id=command_id, command_type="Make")
    assert await store.stream_version(USER) == 2
    record = await store.find_command("tenant-a", command_id)
    assert record is not None
    assert (record.first_version, record.last_version, record.command_type) == (1, 2, "Make")
    assert await store.command_events(record) == first
    # Command ids are per tenant.
    assert await store.find_command("tenant-b", command_id) is None


async def test_a_command_that_decided_nothing_is_recorded(store: EventStore) -> None:
    command_id = uuid.uuid4()
    assert await store.append(USER, [], ANY, command_id=command_id, command_type="Noop") == []
    record = await store.find_command("tenant-a", command_id)
    assert record is not None and await store.command_events(record) == []


async def test_guide_conveniences(store: EventStore) -> None:
    recorded = await store.store_event(USER, event(1), NO_STREAM)
    assert recorded.version == 1
    await store.check_version(USER, 1)
    with pytest.raises(ConcurrencyError):
        await store.check_version(USER, 0)
    assert [e.version for e in await store.get_events(USER)] == [1]


async def test_subscription_catches_up_then_follows(store: EventStore) -> None:
    await store.append(USER, [event(1), event(2)], NO_STREAM)
    subscription = store.subscribe(batch_size=1, poll_interval=0.05)
    seen: list[int] = []

    async def consume() -> None:
        async for recorded in subscription.events():
            seen.append(recorded.data["n"])
            if len(seen) == 4:
                subscription.stop()

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    await store.append(USER, [event(3), event(4)], 2)
    await asyncio.wait_for(consumer, 5)
    assert seen == [1, 2, 3, 4]
    assert subscription.position == (await store.read_stream(USER))[-1].position


async def test_subscription_filters_types_and_resumes_from_a_checkpoint(store: EventStore) -> None:
    await store.append(USER, [event(1, "A"), event(2, "B"), event(3, "A")], NO_STREAM)
    first = store.subscribe(event_types=["A"], poll_interval=0.01)
    batches = first.batches()
    batch = await anext(batches)
    await batches.aclose()
    assert [e.data["n"] for e in batch] == [1, 3]
    await store.append(USER, [event(4, "A")], 3)
    resumed = store.subscribe(batch[-1].position, event_types=["A"], poll_interval=0.01)
    batches = resumed.batches()
    assert [e.data["n"] for e in await anext(batches)] == [4]
    await batches.aclose()


async def test_a_large_append_is_atomic_and_ordered(store: EventStore) -> None:
    """Large appends take another path on PostgreSQL (COPY); the contract is the same."""
    batch = [event(n) for n in range(1, 2501)]
    meta = EventMetadata(correlation_id="bulk", user_id="loader", extra={"source": "import"})
    recorded = await store.append(USER, batch, NO_STREAM, metadata=meta)
    assert [e.version for e in recorded] == list(range(1, 2501))
    read = await store.read_stream(USER)
    assert read == recorded
    assert read[-1].metadata == EventMetadata("bulk", "loader", None, "tenant-a", {"source": "import"})
    with pytest.raises(ConcurrencyError) as caught:
        await store.append(USER, [event(n) for n in range(1500)], 7)
    assert (caught.value.expected, caught.value.actual) == (7, 2500)
    command_id = uuid.uuid4()
    await store.append(
        USER, [event(n) for n in range(1200)], 2500, command_id=command_id, command_type="Bulk"
    )
    with pytest.raises(DuplicateCommandError):
        await store.append(
            USER, [event(n) for n in range(1200)], 3700, command_id=command_id, command_type="Bulk"
        )
    assert await store.stream_version(USER) == 3700
    everything = await store.read_all(limit=10_000)
    assert [e.version for e in everything] == list(range(1, 3701))
