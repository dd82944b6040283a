"""Atomic appends to several streams (EventStore.append_many): part of the store contract, so every
test runs on the in-memory store and on each PostgreSQL store (coalescing on, off, and every append
through the batch statement)."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from acci import (
    ANY,
    NO_STREAM,
    CommandIdReused,
    ConcurrencyError,
    ConfigurationError,
    DuplicateCommandError,
    DuplicateEventError,
    EventMetadata,
    EventStore,
    NewEvent,
    PostgresEventStore,
    StreamAppend,
    StreamId,
    StreamRange,
)
from acci.store._prepare import prepare_many

from tests.runtime.conftest import POSTGRES_STORES, BatchedEventStore, open_store

SOURCE = StreamId("tenant-a", "Account", "source")
TARGET = StreamId("tenant-a", "Account", "target")
# Sorts after both in lock order (tenant, aggregate type, aggregate id).
AUDIT = StreamId("tenant-a", "Audit", "log")


def event(n: int, event_type: str = "Moved") -> NewEvent:
    return NewEvent({"n": n}, event_type=event_type)


async def test_several_streams_are_appended_in_one_transaction(store: EventStore) -> None:
    await store.append(SOURCE, [event(0)], NO_STREAM)
    meta = EventMetadata(correlation_id="corr", user_id="teller", causation_id="cmd")
    source, target = await store.append_many(
        [StreamAppend(SOURCE, [event(1), event(2)], 1), StreamAppend(TARGET, [event(3)], NO_STREAM)],
        metadata=meta,
    )
    assert [e.version for e in source] == [2, 3] and [e.version for e in target] == [1]
    assert [e.data["n"] for e in source + target] == [1, 2, 3]
    assert {e.position.transaction_id for e in source + target} == {source[0].position.transaction_id}
    assert await store.read_stream(SOURCE) == [*(await store.read_stream(SOURCE))[:1], *source]
    assert await store.read_stream(TARGET) == target
    assert target[0].metadata == EventMetadata("corr", "teller", "cmd", "tenant-a")
    # The global order has them once each, in the order they were given.
    assert [e.data["n"] for e in await store.read_all()] == [0, 1, 2, 3]


async def test_a_conflict_on_any_stream_appends_nothing(store: EventStore) -> None:
    await store.append(SOURCE, [event(0), event(1)], NO_STREAM)
    before = await store.read_all()
    for appends, culprit, expected, actual in (
        # The later stream in lock order conflicts: the earlier one's claim is undone.
        ([StreamAppend(SOURCE, [event(2)], 2), StreamAppend(TARGET, [event(3)], 4)], TARGET, 4, 0),
        # The earlier one conflicts; the new stream is not created.
        ([StreamAppend(TARGET, [event(3)], NO_STREAM), StreamAppend(SOURCE, [event(2)], 1)], SOURCE, 1, 2),
        ([StreamAppend(SOURCE, [event(2)], NO_STREAM), StreamAppend(TARGET, [event(3)], ANY)], SOURCE, 0, 2),
    ):
        with pytest.raises(ConcurrencyError) as caught:
            await store.append_many(appends)
        assert (caught.value.stream, caught.value.expected, caught.value.actual) == (
            culprit,
            expected,
            actual,
        )
        assert f"concurrency conflict on stream {culprit}" in str(caught.value)
        assert await store.read_all() == before
        assert await store.stream_version(SOURCE) == 2
        assert await store.stream_version(TARGET) == 0
    # Nothing was claimed by the failed appends: the expected versions still hold.
    await store.append_many(
        [StreamAppend(SOURCE, [event(2)], 2), StreamAppend(TARGET, [event(3)], NO_STREAM)]
    )


async def test_a_stream_without_events_is_checked_and_left_alone(store: EventStore) -> None:
    await store.append(TARGET, [event(0)], NO_STREAM)
    with pytest.raises(ConcurrencyError) as caught:
        await store.append_many([StreamAppend(SOURCE, [event(1)], NO_STREAM), StreamAppend(TARGET, [], 5)])
    assert (caught.value.stream, caught.value.actual) == (TARGET, 1)
    assert await store.stream_version(SOURCE) == 0
    source, target = await store.append_many(
        [StreamAppend(SOURCE, [event(1)], NO_STREAM), StreamAppend(TARGET, [], 1)]
    )
    assert [e.version for e in source] == [1] and target == []
    assert await store.stream_version(TARGET) == 1


async def test_the_command_is_recorded_once_with_every_stream(store: EventStore) -> None:
    command_id = uuid.uuid4()
    appends = [
        StreamAppend(SOURCE, [event(1), event(2)], NO_STREAM),
        StreamAppend(TARGET, [event(3)], NO_STREAM),
        StreamAppend(AUDIT, [], NO_STREAM),
    ]
    source, target, audit = await store.append_many(
        appends, command_id=command_id, command_type="Transfer", command_hash="h1"
    )
    record = await store.find_command("tenant-a", command_id)
    assert record is not None
    # Recorded on the first of its streams in lock order, with the others' versions.
    assert record.stream == SOURCE and (record.first_version, record.last_version) == (1, 2)
    assert record.more == (StreamRange(TARGET, 1, 1), StreamRange(AUDIT, 1, 0))
    assert (record.command_type, record.command_hash) == ("Transfer", "h1")
    assert await store.command_events(record) == source + target + audit
    # The same command again, even after its streams moved on: a repeat, answered with its record.
    await store.append(SOURCE, [event(9)], 2)
    for expected in (NO_STREAM, 3):
        again = [StreamAppend(SOURCE, [event(4)], expected), StreamAppend(TARGET, [event(5)], expected)]
        with pytest.raises(DuplicateCommandError) as duplicate:
            await store.append_many(again, command_id=command_id, command_type="Transfer", command_hash="h1")
        assert duplicate.value.record is not None and duplicate.value.record.more[0] == StreamRange(
            TARGET, 1, 1
        )
    # Another command under the same id: refused, naming the first.
    with pytest.raises(CommandIdReused, match="already used for the same command type and stream"):
        await store.append_many(appends, command_id=command_id, command_type="Transfer", command_hash="h2")
    with pytest.raises(CommandIdReused):
        await store.append(TARGET, [event(6)], ANY, command_id=command_id, command_type="Deposit")
    assert [e.data["n"] for e in await store.read_all()] == [1, 2, 3, 9]


async def test_bad_input_is_refused_before_anything_is_written(store: EventStore) -> None:
    other_tenant = StreamId("tenant-b", "Account", "source")
    for appends, message in (
        ([], "at least one StreamAppend"),
        ([StreamAppend(SOURCE, [event(1)]), StreamAppend(other_tenant, [event(2)])], "spans one tenant"),
        ([StreamAppend(SOURCE, [event(1)]), StreamAppend(SOURCE, [event(2)])], "named twice"),
        ([StreamAppend(SOURCE, [event(1)], -1)], "expected_version -1"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            await store.append_many(appends)
    with pytest.raises(ConfigurationError, match="own tenant"):
        await store.append_many([StreamAppend(SOURCE, [event(1)])], metadata=EventMetadata(tenant_id="x"))
    assert await store.read_all() == []


async def test_a_duplicate_event_id_names_its_stream_and_writes_nothing(store: EventStore) -> None:
    stored = event(1)
    await store.append(AUDIT, [stored], NO_STREAM)
    with pytest.raises(DuplicateEventError) as caught:
        await store.append_many([StreamAppend(SOURCE, [event(2)], NO_STREAM), StreamAppend(TARGET, [stored])])
    assert (caught.value.stream, caught.value.event_id) == (TARGET, stored.event_id)
    assert await store.stream_version(SOURCE) == 0 and await store.stream_version(TARGET) == 0


@pytest.mark.slow  # a concurrency stress loop
@pytest.mark.parametrize("kind", POSTGRES_STORES)
async def test_concurrent_transfers_never_lose_or_half_write(acci_database_url: str, kind: str) -> None:
    """Many writers move amounts between a few streams at once, each append to two streams with
    the versions it read, retrying its conflicts, while single appends go on beside them: every
    transfer is written whole or not at all, and the streams stay contiguous."""
    accounts = [StreamId("t", "Account", f"a{i}") for i in range(4)]
    async with await open_store(kind, acci_database_url, max_size=6) as store:
        for account in accounts:
            await store.append(account, [NewEvent({"amount": 100}, event_type="Opened")], NO_STREAM)

        async def transfer(k: int) -> None:
            source, target = accounts[k % 4], accounts[(k + 1 + k // 4) % 4]
            if source == target:
                target = accounts[(k + 2) % 4]
            while True:
                versions = [await store.stream_version(s) for s in (source, target)]
                try:
                    await store.append_many(
                        [
                            StreamAppend(source, [NewEvent({"amount": -7}, event_type="Sent")], versions[0]),
                            StreamAppend(target, [NewEvent({"amount": 7}, event_type="Got")], versions[1]),
                        ],
                        command_id=uuid.uuid4(),
                        command_type="Transfer",
                    )
                    return
                except ConcurrencyError:
                    await asyncio.sleep(0)

        async def touch(k: int) -> None:
            await store.append(accounts[k % 4], [NewEvent({"amount": 0}, event_type="Touched")])

        await asyncio.gather(*(transfer(k) for k in range(40)), *(touch(k) for k in range(20)))
        events = [e for a in accounts for e in await store.read_stream(a)]
        for account in accounts:
            assert [e.version for e in await store.read_stream(account)] == list(
                range(1, await store.stream_version(account) + 1)
            )
        assert sum(e.data["amount"] for e in events) == 400
        by_transaction: dict[int, list[str]] = {}
        for e in events:
            if e.event_type in ("Sent", "Got"):
                by_transaction.setdefault(e.position.transaction_id, []).append(e.event_type)
        assert sum(len(types) for types in by_transaction.values()) == 80
        # Each transfer's two events share a transaction (coalesced ones share it with others).
        assert all(types.count("Sent") == types.count("Got") for types in by_transaction.values())


# Another writer's claim of one version of TARGET, expected at version 1.
_CLAIM = "SELECT acci.claim_versions('tenant-a', 'Account', 'target', 1, 1, NULL, NULL)"


async def test_a_stream_without_events_stays_locked_until_the_append_commits(acci_database_url: str) -> None:
    """A part without events took its check under a share lock: a writer that would move that
    stream waits for the append's transaction, so the stream cannot change between check and commit."""
    async with await PostgresEventStore.open(acci_database_url, coalesce=False) as store:
        await store.append(TARGET, [event(0)], NO_STREAM)
    async with (
        await psycopg.AsyncConnection.connect(acci_database_url) as holder,
        await psycopg.AsyncConnection.connect(acci_database_url, autocommit=True) as writer,
    ):
        await holder.execute(
            "SELECT * FROM acci.append_batch(%s::int[], %s::text[], %s::text[], %s::text[], %s::bigint[],"
            " %s::int[], NULL, %s::text[], NULL, NULL, NULL, NULL, NULL, %s::int[], %s::uuid[], %s::text[],"
            " %s::int[], %s::text[], false)",
            [
                [1, 1],
                ["tenant-a"] * 2,
                ["Account"] * 2,
                ["source", "target"],
                [0, 1],
                [1, 0],
                ["c", "c"],
                [1],
                [uuid.uuid4()],
                ["Moved"],
                [1],
                ['{"n": 1}'],
            ],
        )
        await writer.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            await writer.execute(_CLAIM)
        await holder.commit()
        cur = await writer.execute(_CLAIM)
        assert await cur.fetchone() == (1,)


async def test_a_copy_of_the_command_later_in_the_same_batch_gets_the_whole_record(
    acci_database_url: str,
) -> None:
    """Two copies of one command to two streams in one coalesced batch: the second is answered with
    the first's record, both streams included (the record is complete once the first copy's last
    stream is claimed, not only when the batch ends)."""
    command_id = uuid.uuid4()
    appends = [StreamAppend(SOURCE, [event(1)], NO_STREAM), StreamAppend(TARGET, [event(2)], NO_STREAM)]
    entries = [prepare_many(appends, None, command_id, "Transfer", "h1") for _ in range(2)]
    async with await BatchedEventStore.open(acci_database_url) as store:
        first, second = await store._flush_batch(entries)
    assert isinstance(first, list) and [e.aggregate_id for e in first] == ["source", "target"]
    assert isinstance(second, DuplicateCommandError) and second.record is not None
    assert second.record.more == (StreamRange(TARGET, 1, 1),)
