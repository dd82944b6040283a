"""Commands on several aggregates (acci.multi): stock moved between two warehouses atomically, on
the in-memory store and each PostgreSQL store."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

import pytest
from acci import (
    AggregateNotFound,
    Command,
    CommandIdReused,
    CommandMetadata,
    CommandRejected,
    ConcurrencyError,
    ConfigurationError,
    DomainEvent,
    EventStore,
    NewEvent,
    PostgresEventStore,
    StreamId,
    metrics,
)
from acci.multi import Aggregates
from acci.repository import Repository

from tests.runtime.shop import (
    AddStock,
    AddStockHandler,
    MoveStock,
    MoveStockHandler,
    OpenWarehouse,
    OpenWarehouseHandler,
    StockAdded,
    StockMovedIn,
    StockMovedOut,
    Warehouse,
)

TENANT = "tenant-1"
META = CommandMetadata(user_id="clerk", tenant_id=TENANT, correlation_id="corr-1")


def stream(warehouse: str) -> StreamId:
    return StreamId(TENANT, "Warehouse", warehouse)


def move(
    source: str = "north", target: str = "south", quantity: int = 3, sku: str = "TEA"
) -> Command[MoveStock]:
    return Command(
        MoveStock(from_warehouse_id=source, to_warehouse_id=target, sku=sku, quantity=quantity), META
    )


async def stocked(store: EventStore, **stock: int) -> None:
    """Open a warehouse per keyword, with that much TEA."""
    for warehouse, quantity in stock.items():
        await OpenWarehouseHandler(store).handle(Command(OpenWarehouse(warehouse_id=warehouse), META))
        if quantity:
            data = AddStock(warehouse_id=warehouse, sku="TEA", quantity=quantity)
            await AddStockHandler(store).handle(Command(data, META))


async def tea(store: EventStore, warehouse: str) -> int:
    state = (await Repository(store, Warehouse).load(TENANT, warehouse)).state
    return state.stock.get("TEA", 0) if state is not None else 0


async def test_stock_moves_between_two_warehouses_in_one_transaction(store: EventStore) -> None:
    await stocked(store, north=10, south=0)
    command = move()
    result = await MoveStockHandler(store).handle(command)
    expected: list[type[DomainEvent]] = [StockMovedOut, StockMovedIn]
    assert [type(Warehouse.registry.decode(e)) for e in result.events] == expected
    assert [e.aggregate_id for e in result.events] == ["north", "south"]  # role order
    assert {e.position.transaction_id for e in result.events} == {result.events[0].position.transaction_id}
    assert {e.metadata.causation_id for e in result.events} == {str(command.id)}
    assert result.version == 3 and not result.replayed  # the first role's version
    assert (await tea(store, "north"), await tea(store, "south")) == (7, 3)


async def test_a_rejection_appends_to_no_stream(store: EventStore) -> None:
    await stocked(store, north=2, south=0)
    before = await store.read_all()
    with pytest.raises(CommandRejected) as rejected:
        await MoveStockHandler(store).handle(move(quantity=5))
    assert rejected.value.code == "insufficient_stock"
    assert await store.read_all() == before


async def test_each_roles_precondition_is_checked(store: EventStore) -> None:
    await stocked(store, north=10)
    with pytest.raises(AggregateNotFound, match=r"Warehouse 'nowhere' \(tenant 'tenant-1'\) does not exist"):
        await MoveStockHandler(store).handle(move(target="nowhere"))
    with pytest.raises(AggregateNotFound, match="'nowhere'"):
        await MoveStockHandler(store).handle(move(source="nowhere", target="north"))
    assert await tea(store, "north") == 10
    assert await store.stream_version(stream("nowhere")) == 0


async def test_two_roles_on_one_stream_are_refused_before_loading(store: EventStore) -> None:
    await stocked(store, north=10)
    with pytest.raises(CommandRejected) as rejected:
        await MoveStockHandler(store).handle(move(source="north", target="north"))
    assert rejected.value.code == "same_aggregate"
    assert str(rejected.value) == (
        "MoveStock names Warehouse 'north' (tenant 'tenant-1') as both source and target; name a different "
        "Warehouse for each."
    )
    assert rejected.value.details == {"roles": ["source", "target"], "aggregate_id": "north"}
    assert await store.stream_version(stream("north")) == 2


class SharingMoveStockHandler(MoveStockHandler):
    """Roles on one stream share one aggregate: its events of both roles, in role order."""

    same_aggregate: ClassVar[Literal["reject", "share"]] = "share"


async def test_shared_roles_load_once_and_append_in_role_order(store: EventStore) -> None:
    await stocked(store, north=10)
    result = await SharingMoveStockHandler(store).handle(move(source="north", target="north"))
    assert [e.event_type for e in result.events] == ["StockMovedOut", "StockMovedIn"]
    assert [e.version for e in result.events] == [3, 4]
    assert await tea(store, "north") == 10


class MeddlingMoveStockHandler(MoveStockHandler):
    """After loading, someone else adds stock to the target once: the append must conflict."""

    meddled: ClassVar[int] = 0

    async def _load(self, command: Command[MoveStock]) -> tuple[Aggregates, Any]:
        loaded = await super()._load(command)
        if MeddlingMoveStockHandler.meddled == 0:
            MeddlingMoveStockHandler.meddled += 1
            meddle = StockAdded(warehouse_id="south", sku="TEA", quantity=1)
            await self.store.append(stream("south"), [NewEvent.of(meddle)])
        return loaded


async def test_a_conflict_on_one_stream_appends_nothing_then_retries(store: EventStore) -> None:
    await stocked(store, north=10, south=0)
    MeddlingMoveStockHandler.meddled = 0
    with pytest.raises(ConcurrencyError) as conflict:
        await MeddlingMoveStockHandler(store).handle(move())
    assert (conflict.value.stream, conflict.value.expected, conflict.value.actual) == (stream("south"), 1, 2)
    assert (await tea(store, "north"), await tea(store, "south")) == (10, 1)

    class Retrying(MeddlingMoveStockHandler):
        retries_on_conflict: ClassVar[int] = 1

    MeddlingMoveStockHandler.meddled = 0
    result = await Retrying(store).handle(move())
    assert [e.version for e in result.events] == [3, 4]  # decided again on the reloaded states
    assert (await tea(store, "north"), await tea(store, "south")) == (7, 5)


async def test_the_same_command_again_is_answered_with_its_first_result(store: EventStore) -> None:
    await stocked(store, north=10, south=0)
    command = move()
    first = await MoveStockHandler(store).handle(command)
    await AddStockHandler(store).handle(Command(AddStock(warehouse_id="south", sku="TEA", quantity=1), META))
    again = await MoveStockHandler(store).handle(command)
    assert again.replayed and again.events == first.events and again.version == first.version
    assert (await tea(store, "north"), await tea(store, "south")) == (7, 4)
    record = await store.find_command(TENANT, command.id)
    assert record is not None and record.command_type == "MoveStock"
    assert [r.stream for r in record.ranges] == [stream("north"), stream("south")]
    other = Command(move(quantity=1).data, META, id=command.id)
    with pytest.raises(CommandIdReused):
        await MoveStockHandler(store).handle(other)


async def test_the_same_command_racing_itself_moves_stock_once(
    acci_database_url: str, coalesce: bool
) -> None:
    async with await PostgresEventStore.open(acci_database_url, max_size=4, coalesce=coalesce) as store:
        await stocked(store, north=10, south=0)
        command = move()
        results = await asyncio.gather(*(MoveStockHandler(store).handle(command) for _ in range(4)))
        assert sum(not r.replayed for r in results) == 1
        assert len({tuple(e.id for e in r.events) for r in results}) == 1
        assert (await tea(store, "north"), await tea(store, "south")) == (7, 3)


class PatientMoveStockHandler(MoveStockHandler):
    retries_on_conflict: ClassVar[int] = 50


@pytest.mark.slow  # a concurrency stress loop
async def test_concurrent_moves_keep_the_total(acci_database_url: str, coalesce: bool) -> None:
    """Moves in both directions at once, retrying their conflicts: no stock appears or vanishes,
    and each move's two events are in one transaction."""
    async with await PostgresEventStore.open(acci_database_url, max_size=6, coalesce=coalesce) as store:
        await stocked(store, north=100, south=100, east=100)
        names = ["north", "south", "east"]
        moves = [move(names[k % 3], names[(k + 1 + k // 2) % 3], 1) for k in range(40)]
        moves = [m for m in moves if m.data.from_warehouse_id != m.data.to_warehouse_id]
        await asyncio.gather(*(PatientMoveStockHandler(store).handle(m) for m in moves))
        assert sum([await tea(store, name) for name in names]) == 300
        moved = [e for e in await store.read_all(limit=1000) if e.event_type.startswith("StockMoved")]
        assert len(moved) == 2 * len(moves)
        by_transaction: dict[int, int] = {}
        for e in moved:
            by_transaction[e.position.transaction_id] = by_transaction.get(e.position.transaction_id, 0) + 1
        assert all(count % 2 == 0 for count in by_transaction.values())


async def test_snapshots_are_saved_for_each_aggregate(store: EventStore) -> None:
    await stocked(store, north=10, south=0)
    for _ in range(4):
        await MoveStockHandler(store).handle(move(quantity=1))
    for name in ("north", "south"):
        snapshot = await store.load_snapshot(stream(name))
        assert snapshot is not None and snapshot.version == 5  # snapshot_every 5
    assert (await tea(store, "north"), await tea(store, "south")) == (6, 4)
    result = await MoveStockHandler(store).handle(move(quantity=6))  # loaded from the snapshots
    assert result.version == 7


async def test_outcomes_are_counted_by_command(store: EventStore) -> None:
    await stocked(store, north=1, south=0)
    labels = {"command": "MoveStock", "outcome": "rejected"}
    before = metrics.REGISTRY.get_sample_value("acci_command_duration_seconds_count", labels) or 0
    with pytest.raises(CommandRejected):
        await MoveStockHandler(store).handle(move(quantity=5))
    assert metrics.REGISTRY.get_sample_value("acci_command_duration_seconds_count", labels) == before + 1


async def test_a_handler_naming_other_roles_is_a_clear_error(store: EventStore) -> None:
    class Confused(MoveStockHandler):
        def aggregate_ids(self, command: Command[MoveStock]) -> dict[str, str]:
            return {"from": "north", "to": "south"}

    with pytest.raises(ConfigurationError, match=r"returned the roles \['from', 'to'\], but its roles are"):
        await Confused(store).handle(move())
