"""The generated query handlers against real read models: keyset pages, optional filters, the
guide's search with ILIKE (escaped), tenant scoping and parameter validation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import pytest_asyncio
from acci import (
    ConsistencyTimeout,
    DomainEvent,
    InvalidQuery,
    NewEvent,
    Position,
    PostgresEventStore,
    StreamId,
)
from acci.migrations import Migration
from acci.projections import ProjectionRunner, RunnerSettings
from acci.testing import catch_up_past
from identity.events import UserCreated
from identity.projections import UserViewProjection
from identity.queries import IdentityQueries
from identity.service import migrations as identity_migrations
from ordering.events import Address, Currency, OrderOpened, OrderPlaced, OrderStatus
from ordering.projections import OrderSummaryProjection
from ordering.queries import OrderingQueries
from ordering.service import migrations as ordering_migrations

TENANT = "t1"
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-00000000c001")
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest_asyncio.fixture
async def store(
    acci_database_with: Callable[[Sequence[Migration]], str],
) -> AsyncIterator[PostgresEventStore]:
    url = acci_database_with(identity_migrations() + ordering_migrations())
    async with await PostgresEventStore.open(url) as opened:
        yield opened


async def open_orders(store: PostgresEventStore, count: int, placed_every: int = 3) -> list[uuid.UUID]:
    ids = []
    last: Position | None = None
    for i in range(count):
        order_id = uuid.UUID(int=i + 1)
        ids.append(order_id)
        events: list[DomainEvent] = [
            OrderOpened(
                order_id=order_id,
                customer_id=CUSTOMER,
                currency=Currency.eur,
                opened_at=START + timedelta(hours=i % 4),  # ties: the key orders within a time
                opened_by="u",
            )
        ]
        if i % placed_every == 0:
            address = Address(street="S 1", city="C", postal_code="10115", country="DE")
            events.append(
                OrderPlaced(order_id=order_id, total=Decimal(i), shipping_address=address, placed_at=START)
            )
        recorded = await store.append(
            StreamId(TENANT, "Order", str(order_id)), [NewEvent.of(e) for e in events]
        )
        last = recorded[-1].position
    await catch_up_past(store, OrderSummaryProjection(), last)
    return ids


async def test_keyset_pages_cover_every_row_once_in_order(store: PostgresEventStore) -> None:
    await open_orders(store, 11)
    queries = OrderingQueries.of(store)
    seen = []
    page = await queries.orders_of_customer(TENANT, customer_id=CUSTOMER, page_size=3)
    while page:
        seen += page
        page = await queries.orders_of_customer(TENANT, customer_id=CUSTOMER, page_size=3, after=page[-1])
    assert len(seen) == 11
    assert len({row.order_id for row in seen}) == 11
    keys = [(row.opened_at, row.order_id) for row in seen]
    assert keys == sorted(keys, reverse=True)


async def test_an_optional_filter_left_out_matches_everything(store: PostgresEventStore) -> None:
    await open_orders(store, 9)
    queries = OrderingQueries.of(store)
    every = await queries.orders_of_customer(TENANT, customer_id=CUSTOMER, page_size=100)
    placed = await queries.orders_of_customer(
        TENANT, customer_id=CUSTOMER, status=OrderStatus.placed, page_size=100
    )
    assert len(every) == 9
    assert len(placed) == 3
    assert {row.status for row in placed} == {OrderStatus.placed}
    other = await queries.orders_of_customer("t2", customer_id=CUSTOMER, page_size=100)
    assert other == []


async def test_search_users_escapes_the_text_and_orders_by_name(store: PostgresEventStore) -> None:
    names = ["zoe 100%", "ada lovelace", "adam smith", "bob_ada", "carl"]
    for i, name in enumerate(names):
        user_id = uuid.UUID(int=100 + i)
        event = UserCreated(user_id=user_id, email=f"u{i}@example.com", name=name)
        (recorded,) = await store.append(StreamId(TENANT, "User", str(user_id)), [NewEvent.of(event)])
    await catch_up_past(store, UserViewProjection(), recorded.position)
    queries = IdentityQueries.of(store)
    found = await queries.search_users(TENANT, query="ADA")
    assert [u.name for u in found] == ["ada lovelace", "adam smith", "bob_ada"]  # ILIKE, ordered by name
    assert [u.name for u in await queries.search_users(TENANT, query="%")] == ["zoe 100%"]
    assert [u.name for u in await queries.search_users(TENANT, query="_")] == ["bob_ada"]
    assert [u.name for u in await queries.search_users(TENANT, query="a", limit=2, offset=1)] == [
        "adam smith",
        "bob_ada",
    ]
    got = await queries.get_user(TENANT, id=uuid.UUID(int=101))
    assert got is not None and got.name == "ada lovelace"
    assert await queries.get_user("t2", id=uuid.UUID(int=101)) is None


async def test_bad_parameters_read_nothing(store: PostgresEventStore) -> None:
    queries = IdentityQueries.of(store)
    with pytest.raises(InvalidQuery, match=r"search_users is invalid: limit: Input should be greater than"):
        await queries.search_users(TENANT, query="a", limit=0)


async def test_a_generated_query_given_a_position_waits_for_its_projection(store: PostgresEventStore) -> None:
    """Read-your-writes from a generated handler: each query names the projection it reads."""
    assert [p.name for p in IdentityQueries._GET_USER.reads] == ["user_view"]
    user_id = uuid.UUID(int=7)
    created = UserCreated(user_id=user_id, email="ada@example.com", name="Ada", created_by=None)
    (event,) = await store.append(StreamId(TENANT, "User", str(user_id)), [NewEvent.of(created)])
    with pytest.raises(ConsistencyTimeout) as caught:
        await IdentityQueries.of(store, position=event.position, within=0.2).get_user(TENANT, id=user_id)
    assert caught.value.projections == ["user_view"] and "checkpoint on the primary" in caught.value.why
    assert await IdentityQueries.of(store).get_user(TENANT, id=user_id) is None  # no position: no wait

    # A live runner, started late (one catch-up could stop below a horizon that another session
    # of the shared server holds back).
    stop = asyncio.Event()

    async def run_later() -> None:
        await asyncio.sleep(0.2)
        await ProjectionRunner(store, UserViewProjection(), RunnerSettings(poll_interval=0.05)).run(stop)

    runner = asyncio.create_task(run_later())
    try:
        row = await IdentityQueries.of(store, position=event.position, within=20).get_user(TENANT, id=user_id)
    finally:
        stop.set()
        await runner
    assert row is not None and row.name == "Ada"
