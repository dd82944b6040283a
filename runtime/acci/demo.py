"""A walkthrough of the guide's User example through the runtime: migrate a database, handle
commands, read events, lose a race, repeat a command, snapshot, and read back in time.

Run: `python -m acci.demo` (uses ACCI_DATABASE_URL, or starts an embedded PostgreSQL).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from acci import (
    AggregateAlreadyExists,
    Command,
    CommandMetadata,
    ConcurrencyError,
    PostgresEventStore,
    Repository,
)
from acci.database import check_server, database_url
from acci.examples.users import (
    CreateUser,
    CreateUserHandler,
    UpdateUser,
    UpdateUserHandler,
    User,
    UserUpdated,
)
from acci.migrations import migrate


def say(step: str, detail: str = "") -> None:
    print(f"\n== {step}")
    if detail:
        print(f"   {detail}")


async def walkthrough(url: str) -> None:
    version = check_server(url)
    say("migrate", f"PostgreSQL {version // 10000}.{version % 100}")
    for migration in await migrate(url, progress=lambda line: print(f"   {line}")):
        print(f"   applied {migration}")

    async with await PostgresEventStore.open(url) as store:
        admin = CommandMetadata(user_id="admin", tenant_id="tenant1")
        create = Command(CreateUser(user_id="user123", email="test@example.com", name="Test User"), admin)

        say("CreateUser -> UserCreated")
        result = await CreateUserHandler(store).handle(create)
        for event in result.events:
            print(f"   {event.event_type} v{event.version} at {event.position}: {event.data}")
            meta = event.metadata
            print(f"   correlation {meta.correlation_id}, caused by command {meta.causation_id}")

        say("the same command again (idempotent)")
        again = await CreateUserHandler(store).handle(create)
        print(f"   replayed={again.replayed}, same events: {again.events == result.events}")

        say("CreateUser for an existing id is refused")
        try:
            await CreateUserHandler(store).handle(
                Command(CreateUser(user_id="user123", email="x@example.com", name="X"), admin)
            )
        except AggregateAlreadyExists as error:
            print(f"   AggregateAlreadyExists: {error}")

        say("UpdateUser, three times")
        for name in ["Test User II", "Test User III", "T. User"]:
            await UpdateUserHandler(store).handle(Command(UpdateUser(user_id="user123", name=name), admin))
        repo = Repository(store, User)
        user = await repo.load("tenant1", "user123")
        print(f"   version {user.version}: {user.state}")

        say("two writers, one expected version: a conflict")
        stale = await repo.load("tenant1", "user123")
        await repo.save(
            await repo.load("tenant1", "user123"), [UserUpdated(user_id="user123", name="Winner")]
        )
        try:
            await repo.save(stale, [UserUpdated(user_id="user123", name="Loser")])
        except ConcurrencyError as error:
            print(f"   ConcurrencyError: {error}")

        say("snapshot, then load from it")
        halfway = datetime.now(UTC)
        await asyncio.sleep(0.01)
        for i in range(200):
            await repo.save(
                await repo.load("tenant1", "user123"), [UserUpdated(user_id="user123", name=f"N{i}")]
            )
        snapshot = await store.load_snapshot(user.stream)
        taken = f"at version {snapshot.version}" if snapshot is not None else "missing!"
        print(f"   snapshot {taken} (every {User.snapshot_every} events)")
        latest = await repo.load("tenant1", "user123")
        full = await repo.load("tenant1", "user123", use_snapshot=False)
        print(f"   from snapshot: version {latest.version}, {latest.state}")
        print(f"   equals a full replay: {latest.state == full.state}")

        say("temporal reads")
        first = await repo.load("tenant1", "user123", at_version=1)
        print(f"   at version 1: {first.state}")
        then = await repo.load("tenant1", "user123", as_of=halfway)
        print(f"   as of {halfway:%H:%M:%S.%f}: version {then.version}, {then.state}")

        say("the global order, as a projection would read it")
        page = await store.read_all(limit=3, event_types=["UserCreated", "UserUpdated"])
        for event in page:
            print(f"   {event.position}  {event.event_type}  {event.aggregate_id}")
        print(f"   ... {len(await store.read_all(limit=10_000))} events in all")
    say("done")


def main() -> int:
    with database_url() as url:
        asyncio.run(walkthrough(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
