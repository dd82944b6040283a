"""Aggregates and command handling with the guide's User example, on both stores."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from acci import (
    AggregateAlreadyExists,
    AggregateNotFound,
    Command,
    CommandMetadata,
    CommandRejected,
    ConcurrencyError,
    EventStore,
    PostgresEventStore,
    Repository,
)
from acci.examples.users import (
    CreateUser,
    CreateUserHandler,
    UpdateUser,
    UpdateUserHandler,
    User,
    UserCreated,
    UserUpdated,
)

META = CommandMetadata(user_id="admin", tenant_id="tenant1", correlation_id="test123")


def create(user_id: str = "user123", **overrides: str) -> Command[CreateUser]:
    data = {"user_id": user_id, "email": "test@example.com", "name": "Test User", **overrides}
    return Command(CreateUser(**data), META)


def update(user_id: str = "user123", **changes: str) -> Command[UpdateUser]:
    return Command(UpdateUser(user_id=user_id, **changes), META)


async def test_create_user_command(store: EventStore) -> None:
    """The guide's unit test: one UserCreated event."""
    command = create()
    result = await CreateUserHandler(store).handle(command)
    assert len(result.events) == 1
    assert result.events[0].event_type == "UserCreated"
    assert result.version == 1 and not result.replayed
    recorded = result.events[0]
    assert recorded.data == {"user_id": "user123", "email": "test@example.com", "name": "Test User"}
    assert recorded.metadata.correlation_id == "test123"
    assert recorded.metadata.causation_id == str(command.id)
    assert recorded.metadata.user_id == "admin"
    assert recorded.tenant_id == "tenant1"


async def test_the_same_command_twice_appends_once(store: EventStore) -> None:
    command = create()
    first = await CreateUserHandler(store).handle(command)
    again = await CreateUserHandler(store).handle(command)
    assert again.replayed
    assert again.events == first.events
    assert len(await store.read_all()) == 1


async def test_the_same_command_racing_itself_appends_once(acci_database_url: str, coalesce: bool) -> None:
    async with await PostgresEventStore.open(acci_database_url, max_size=4, coalesce=coalesce) as store:
        command = update(name="Raced")
        await CreateUserHandler(store).handle(create())
        results = await asyncio.gather(*(UpdateUserHandler(store).handle(command) for _ in range(4)))
        assert sum(not r.replayed for r in results) == 1
        assert {r.events[0].id for r in results} == {results[0].events[0].id}
        assert await store.stream_version(User("tenant1", "user123").stream) == 2


async def test_preconditions(store: EventStore) -> None:
    with pytest.raises(AggregateNotFound, match=r"User 'ghost' \(tenant 'tenant1'\) does not exist"):
        await UpdateUserHandler(store).handle(update("ghost", name="x"))
    await CreateUserHandler(store).handle(create())
    with pytest.raises(AggregateAlreadyExists, match="already exists"):
        await CreateUserHandler(store).handle(create())
    assert len(await store.read_all()) == 1


async def test_a_rejected_command_appends_nothing_and_is_not_recorded(store: EventStore) -> None:
    await CreateUserHandler(store).handle(create())
    command = update()
    with pytest.raises(CommandRejected) as caught:
        await UpdateUserHandler(store).handle(command)
    assert caught.value.code == "empty_update"
    assert len(await store.read_all()) == 1
    assert await store.find_command("tenant1", command.id) is None


async def test_state_is_rebuilt_from_events(store: EventStore) -> None:
    await CreateUserHandler(store).handle(create())
    await UpdateUserHandler(store).handle(update(name="Renamed"))
    user = await Repository(store, User).load("tenant1", "user123")
    assert user.state is not None
    assert (user.state.name, user.state.email, user.version) == ("Renamed", "test@example.com", 2)


async def test_a_conflict_without_retries_raises(store: EventStore) -> None:
    await CreateUserHandler(store).handle(create())
    repo = Repository(store, User)
    stale = await repo.load("tenant1", "user123")
    await repo.save(await repo.load("tenant1", "user123"), [UserUpdated(user_id="user123", name="A")])
    with pytest.raises(ConcurrencyError) as caught:
        await repo.save(stale, [UserUpdated(user_id="user123", name="B")])
    assert (caught.value.expected, caught.value.actual) == (1, 2)


async def test_concurrent_updates_retry_and_all_land(acci_database_url: str, coalesce: bool) -> None:
    async with await PostgresEventStore.open(acci_database_url, max_size=4, coalesce=coalesce) as store:
        await CreateUserHandler(store).handle(create())
        names = [f"name-{i}" for i in range(4)]
        await asyncio.gather(*(UpdateUserHandler(store).handle(update(name=n)) for n in names))
        events = await store.read_stream(User("tenant1", "user123").stream)
        assert sorted(e.data["name"] for e in events[1:]) == names


async def test_snapshot_plus_later_events_equals_full_replay(store: EventStore) -> None:
    repo = Repository(store, User)
    await CreateUserHandler(store).handle(create())
    for i in range(250):  # snapshot_every = 100: snapshots at 100 and 200
        await repo.save(await repo.load("tenant1", "user123"), [UserUpdated(user_id="user123", name=f"n{i}")])
    snapshot = await store.load_snapshot(User("tenant1", "user123").stream)
    assert snapshot is not None and snapshot.version == 200
    with_snapshot = await repo.load("tenant1", "user123")
    replayed = await repo.load("tenant1", "user123", use_snapshot=False)
    assert with_snapshot.state == replayed.state
    assert with_snapshot.version == replayed.version == 251


async def test_a_snapshot_with_a_stale_schema_hash_is_ignored(store: EventStore) -> None:
    repo = Repository(store, User)
    await CreateUserHandler(store).handle(create())
    user = await repo.load("tenant1", "user123")
    bad = repo.snapshot(user)
    from dataclasses import replace

    # Same hash but state that does not fit, and a different hash with plausible state.
    await store.save_snapshot(
        replace(bad, schema_hash="old-shape", state_json='{"user_id": "x", "email": "e", "name": "WRONG"}')
    )
    loaded = await repo.load("tenant1", "user123")
    assert loaded.state is not None and loaded.state.name == "Test User"
    await store.save_snapshot(replace(bad, state_json='{"unexpected": true}'))
    loaded = await repo.load("tenant1", "user123")
    assert loaded.state is not None and loaded.state.name == "Test User"


async def test_temporal_reads_by_version_and_by_time(store: EventStore) -> None:
    repo = Repository(store, User)
    await CreateUserHandler(store).handle(create())
    await UpdateUserHandler(store).handle(update(name="Second"))
    between = (await store.read_stream(User("tenant1", "user123").stream))[-1].timestamp
    await asyncio.sleep(0.01)
    await UpdateUserHandler(store).handle(update(name="Third"))
    await repo.save_snapshot(await repo.load("tenant1", "user123"))  # a snapshot newer than both reads

    at_v1 = await repo.load("tenant1", "user123", at_version=1)
    assert at_v1.state is not None and (at_v1.version, at_v1.state.name) == (1, "Test User")
    then = await repo.load("tenant1", "user123", as_of=between)
    assert then.state is not None and (then.version, then.state.name) == (2, "Second")
    now = await repo.load("tenant1", "user123")
    assert now.state is not None and (now.version, now.state.name) == (3, "Third")


async def test_events_decode_to_their_classes(store: EventStore) -> None:
    await CreateUserHandler(store).handle(create())
    (recorded,) = await store.read_stream(User("tenant1", "user123").stream)
    decoded = User.registry.decode(recorded)
    assert decoded == UserCreated(user_id="user123", email="test@example.com", name="Test User")


def test_command_ids_are_unique() -> None:
    assert create().id != create().id
    assert isinstance(create().id, uuid.UUID)
