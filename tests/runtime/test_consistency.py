"""Read-your-writes for read models kept by a runner (acci.projections.consistency): a command's
position, and a wait until the projections a query reads have passed it."""

from __future__ import annotations

import asyncio

import pytest
from acci import Command, CommandMetadata, ConsistencyTimeout, NewEvent, PostgresEventStore, StreamId
from acci.examples.users import CreateUser, CreateUserHandler, UserProjection
from acci.projections import has_passed, wait_until_passed
from acci.testing import catch_up_past

ADMIN = CommandMetadata(user_id="admin", tenant_id="tenant-1")


async def create_user(store: PostgresEventStore, user_id: str) -> Command[CreateUser]:
    return Command(CreateUser(user_id=user_id, email=f"{user_id}@example.com", name="Ada"), ADMIN)


async def passed(store: PostgresEventStore, projection: UserProjection, position: object) -> bool:
    async with store.pool.connection() as conn:
        return await has_passed(conn, projection, position)  # type: ignore[arg-type]


async def test_a_command_result_carries_its_position_and_the_runner_passes_it(
    postgres_store: PostgresEventStore,
) -> None:
    projection = UserProjection()
    result = await CreateUserHandler(postgres_store).handle(await create_user(postgres_store, "u1"))
    assert result.position == result.events[-1].position
    assert not await passed(postgres_store, projection, result.position)
    # Until it has passed it: a catch-up stops below the horizon, which the shared server's other
    # sessions hold back now and then.
    await catch_up_past(postgres_store, projection, result.position)
    assert await passed(postgres_store, projection, result.position)
    # A replay of the same command carries the first result's position.
    command = await create_user(postgres_store, "u2")
    first = await CreateUserHandler(postgres_store).handle(command)
    again = await CreateUserHandler(postgres_store).handle(command)
    assert again.replayed and again.position == first.position


async def test_events_a_projection_does_not_read_never_hold_it_back(
    postgres_store: PostgresEventStore,
) -> None:
    projection = UserProjection()
    created = await CreateUserHandler(postgres_store).handle(await create_user(postgres_store, "u1"))
    await catch_up_past(postgres_store, projection, created.position)
    (other,) = await postgres_store.append(
        StreamId("tenant-1", "Thing", "t1"), [NewEvent({"n": 1}, event_type="ThingHappened")]
    )
    # The checkpoint is before the other event, but nothing of the projection's types lies between.
    assert await passed(postgres_store, projection, other.position)


async def test_the_wait_returns_once_a_runner_has_applied_the_events(
    postgres_store: PostgresEventStore,
) -> None:
    projection = UserProjection()
    result = await CreateUserHandler(postgres_store).handle(await create_user(postgres_store, "u1"))

    async def run_later() -> None:
        await asyncio.sleep(0.2)
        await catch_up_past(postgres_store, projection, result.position)

    runner = asyncio.create_task(run_later())
    await wait_until_passed(postgres_store.pool, [projection], result.position, within=20)
    await runner
    async with postgres_store.pool.connection() as conn:
        rows = await (await conn.execute("SELECT name FROM examples.user_view WHERE id = 'u1'")).fetchall()
    assert rows == [("Ada",)]


async def test_without_a_runner_the_wait_times_out_and_says_which_read_model(
    postgres_store: PostgresEventStore,
) -> None:
    result = await CreateUserHandler(postgres_store).handle(await create_user(postgres_store, "u1"))
    with pytest.raises(ConsistencyTimeout) as caught:
        await wait_until_passed(postgres_store.pool, [UserProjection()], result.position, within=0.2)
    assert caught.value.projections == ["user_view"]
    assert "user_view" in str(caught.value) and str(result.position) in str(caught.value)


async def test_inline_projections_and_commands_without_events_never_wait(
    postgres_store: PostgresEventStore,
) -> None:
    class InlineUsers(UserProjection):
        inline = True

    result = await CreateUserHandler(postgres_store).handle(await create_user(postgres_store, "u1"))
    await wait_until_passed(postgres_store.pool, [InlineUsers()], result.position, within=0.01)
    await wait_until_passed(postgres_store.pool, [UserProjection()], None, within=0.01)
