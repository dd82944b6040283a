"""A small inventory domain, written by hand against the runtime, for the tests of multi-aggregate
commands, policies and deadlines (and the process the policy kill test starts): warehouses hold
stock, stock moves between two warehouses atomically, orders reserve stock through a policy, and
a reservation is released when the order is neither shipped nor cancelled within 15 minutes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from acci import (
    Aggregate,
    Command,
    CommandData,
    CommandHandler,
    CommandRejected,
    DomainEvent,
    EventRegistry,
    Precondition,
    RecordedEvent,
)
from acci.commands import existing_state
from acci.multi import Aggregates, Emitted, MultiCommandHandler, Role
from acci.policies import Cancel, Effect, OnRejected, Policy, Schedule, Send
from acci.service import Service
from pydantic import BaseModel, ConfigDict

# -- events ----------------------------------------------------------------------------------------


class WarehouseOpened(DomainEvent):
    event_type: ClassVar[str] = "WarehouseOpened"
    warehouse_id: str


class StockAdded(DomainEvent):
    event_type: ClassVar[str] = "StockAdded"
    warehouse_id: str
    sku: str
    quantity: int


class StockMovedOut(DomainEvent):
    event_type: ClassVar[str] = "StockMovedOut"
    warehouse_id: str
    sku: str
    quantity: int
    to_warehouse_id: str


class StockMovedIn(DomainEvent):
    event_type: ClassVar[str] = "StockMovedIn"
    warehouse_id: str
    sku: str
    quantity: int
    from_warehouse_id: str


class StockReserved(DomainEvent):
    event_type: ClassVar[str] = "StockReserved"
    warehouse_id: str
    order_id: str
    sku: str
    quantity: int


class ReservationReleased(DomainEvent):
    event_type: ClassVar[str] = "ReservationReleased"
    warehouse_id: str
    order_id: str


class OrderPlaced(DomainEvent):
    event_type: ClassVar[str] = "OrderPlaced"
    order_id: str
    warehouse_id: str
    sku: str
    quantity: int


class OrderShipped(DomainEvent):
    event_type: ClassVar[str] = "OrderShipped"
    order_id: str


class OrderCancelled(DomainEvent):
    event_type: ClassVar[str] = "OrderCancelled"
    order_id: str
    reason: str


REGISTRY = EventRegistry(
    [
        WarehouseOpened,
        StockAdded,
        StockMovedOut,
        StockMovedIn,
        StockReserved,
        ReservationReleased,
        OrderPlaced,
        OrderShipped,
        OrderCancelled,
    ]
)

#: For each event type: the aggregate type of its streams and the field that holds their id.
STREAMS = {
    "WarehouseOpened": ("Warehouse", "warehouse_id"),
    "StockAdded": ("Warehouse", "warehouse_id"),
    "StockMovedOut": ("Warehouse", "warehouse_id"),
    "StockMovedIn": ("Warehouse", "warehouse_id"),
    "StockReserved": ("Warehouse", "warehouse_id"),
    "ReservationReleased": ("Warehouse", "warehouse_id"),
    "OrderPlaced": ("Order", "order_id"),
    "OrderShipped": ("Order", "order_id"),
    "OrderCancelled": ("Order", "order_id"),
}

# -- aggregates ------------------------------------------------------------------------------------


class WarehouseState(BaseModel):
    model_config = ConfigDict(frozen=True)

    warehouse_id: str
    stock: dict[str, int] = {}
    #: order id -> (sku, quantity)
    reservations: dict[str, tuple[str, int]] = {}

    def having(self, sku: str, change: int) -> dict[str, int]:
        return {**self.stock, sku: self.stock.get(sku, 0) + change}


class Warehouse(Aggregate[WarehouseState]):
    aggregate_type: ClassVar[str] = "Warehouse"
    state_class: ClassVar[type[BaseModel]] = WarehouseState
    registry: ClassVar[EventRegistry] = REGISTRY
    snapshot_every: ClassVar[int | None] = 5

    def evolve(self, state: WarehouseState | None, event: DomainEvent) -> WarehouseState:
        match event:
            case WarehouseOpened():
                return WarehouseState(warehouse_id=event.warehouse_id)
            case StockAdded() | StockMovedIn() if state is not None:
                return state.model_copy(update={"stock": state.having(event.sku, event.quantity)})
            case StockMovedOut() if state is not None:
                return state.model_copy(update={"stock": state.having(event.sku, -event.quantity)})
            case StockReserved() if state is not None:
                reservations = {**state.reservations, event.order_id: (event.sku, event.quantity)}
                stock = state.having(event.sku, -event.quantity)
                return state.model_copy(update={"stock": stock, "reservations": reservations})
            case ReservationReleased() if state is not None:
                sku, quantity = state.reservations[event.order_id]
                reservations = {k: v for k, v in state.reservations.items() if k != event.order_id}
                stock = state.having(sku, quantity)
                return state.model_copy(update={"stock": stock, "reservations": reservations})
        raise self.cannot_apply(event, state)


class OrderState(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    status: str = "placed"


class Order(Aggregate[OrderState]):
    aggregate_type: ClassVar[str] = "Order"
    state_class: ClassVar[type[BaseModel]] = OrderState
    registry: ClassVar[EventRegistry] = REGISTRY

    def evolve(self, state: OrderState | None, event: DomainEvent) -> OrderState:
        match event:
            case OrderPlaced():
                return OrderState(order_id=event.order_id)
            case OrderShipped() if state is not None:
                return state.model_copy(update={"status": "shipped"})
            case OrderCancelled() if state is not None:
                return state.model_copy(update={"status": "cancelled"})
        raise self.cannot_apply(event, state)


# -- commands and handlers -------------------------------------------------------------------------


class OpenWarehouse(CommandData):
    command_type: ClassVar[str] = "OpenWarehouse"
    warehouse_id: str


class AddStock(CommandData):
    command_type: ClassVar[str] = "AddStock"
    warehouse_id: str
    sku: str
    quantity: int


class MoveStock(CommandData):
    command_type: ClassVar[str] = "MoveStock"
    from_warehouse_id: str
    to_warehouse_id: str
    sku: str
    quantity: int


class ReserveStock(CommandData):
    command_type: ClassVar[str] = "ReserveStock"
    warehouse_id: str
    order_id: str
    sku: str
    quantity: int


class ReleaseReservation(CommandData):
    command_type: ClassVar[str] = "ReleaseReservation"
    warehouse_id: str
    order_id: str


class PlaceOrder(CommandData):
    command_type: ClassVar[str] = "PlaceOrder"
    order_id: str
    warehouse_id: str
    sku: str
    quantity: int


class ShipOrder(CommandData):
    command_type: ClassVar[str] = "ShipOrder"
    order_id: str


class CancelOrder(CommandData):
    command_type: ClassVar[str] = "CancelOrder"
    order_id: str
    reason: str


class OpenWarehouseHandler(CommandHandler[OpenWarehouse, Warehouse]):
    aggregate_class = Warehouse
    precondition = Precondition.MUST_NOT_EXIST

    def aggregate_id(self, command: Command[OpenWarehouse]) -> str:
        return command.data.warehouse_id

    def decide(self, aggregate: Warehouse, command: Command[OpenWarehouse]) -> Sequence[DomainEvent]:
        return [WarehouseOpened(warehouse_id=command.data.warehouse_id)]


class AddStockHandler(CommandHandler[AddStock, Warehouse]):
    aggregate_class = Warehouse
    precondition = Precondition.MUST_EXIST
    retries_on_conflict = 5

    def aggregate_id(self, command: Command[AddStock]) -> str:
        return command.data.warehouse_id

    def decide(self, aggregate: Warehouse, command: Command[AddStock]) -> Sequence[DomainEvent]:
        data = command.data
        return [StockAdded(warehouse_id=data.warehouse_id, sku=data.sku, quantity=data.quantity)]


class MoveStockHandler(MultiCommandHandler[MoveStock]):
    """Stock leaves one warehouse and arrives in another, in one transaction."""

    roles = (
        Role("source", Warehouse, Precondition.MUST_EXIST),
        Role("target", Warehouse, Precondition.MUST_EXIST),
    )

    def aggregate_ids(self, command: Command[MoveStock]) -> Mapping[str, str]:
        return {"source": command.data.from_warehouse_id, "target": command.data.to_warehouse_id}

    def decide(self, aggregates: Aggregates, command: Command[MoveStock]) -> Emitted:
        data = command.data
        source = existing_state(aggregates.role("source", Warehouse))
        if source.stock.get(data.sku, 0) < data.quantity:
            raise CommandRejected(
                f"{data.from_warehouse_id} holds only {source.stock.get(data.sku, 0)} of {data.sku}",
                code="insufficient_stock",
            )
        return {
            "source": [
                StockMovedOut(
                    warehouse_id=data.from_warehouse_id,
                    sku=data.sku,
                    quantity=data.quantity,
                    to_warehouse_id=data.to_warehouse_id,
                )
            ],
            "target": [
                StockMovedIn(
                    warehouse_id=data.to_warehouse_id,
                    sku=data.sku,
                    quantity=data.quantity,
                    from_warehouse_id=data.from_warehouse_id,
                )
            ],
        }


class ReserveStockHandler(CommandHandler[ReserveStock, Warehouse]):
    aggregate_class = Warehouse
    precondition = Precondition.MUST_EXIST
    retries_on_conflict = 5

    def aggregate_id(self, command: Command[ReserveStock]) -> str:
        return command.data.warehouse_id

    def decide(self, aggregate: Warehouse, command: Command[ReserveStock]) -> Sequence[DomainEvent]:
        # No check for an earlier reservation of the order: a command sent twice would reserve
        # twice, which the policy tests must never see (the command log answers a repeat).
        data, state = command.data, existing_state(aggregate)
        if state.stock.get(data.sku, 0) < data.quantity:
            raise CommandRejected(f"not enough {data.sku} in {data.warehouse_id}", code="insufficient_stock")
        return [
            StockReserved(
                warehouse_id=data.warehouse_id, order_id=data.order_id, sku=data.sku, quantity=data.quantity
            )
        ]


class ReleaseReservationHandler(CommandHandler[ReleaseReservation, Warehouse]):
    aggregate_class = Warehouse
    precondition = Precondition.MUST_EXIST
    retries_on_conflict = 5

    def aggregate_id(self, command: Command[ReleaseReservation]) -> str:
        return command.data.warehouse_id

    def decide(self, aggregate: Warehouse, command: Command[ReleaseReservation]) -> Sequence[DomainEvent]:
        data, state = command.data, existing_state(aggregate)
        if data.order_id not in state.reservations:
            raise CommandRejected(f"no reservation for order {data.order_id}", code="not_reserved")
        return [ReservationReleased(warehouse_id=data.warehouse_id, order_id=data.order_id)]


class PlaceOrderHandler(CommandHandler[PlaceOrder, Order]):
    aggregate_class = Order
    precondition = Precondition.MUST_NOT_EXIST

    def aggregate_id(self, command: Command[PlaceOrder]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Order, command: Command[PlaceOrder]) -> Sequence[DomainEvent]:
        return [OrderPlaced(**command.data.model_dump())]


class ShipOrderHandler(CommandHandler[ShipOrder, Order]):
    aggregate_class = Order
    precondition = Precondition.MUST_EXIST

    def aggregate_id(self, command: Command[ShipOrder]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Order, command: Command[ShipOrder]) -> Sequence[DomainEvent]:
        if existing_state(aggregate).status != "placed":
            raise CommandRejected("only a placed order can be shipped", code="not_placed")
        return [OrderShipped(order_id=command.data.order_id)]


class CancelOrderHandler(CommandHandler[CancelOrder, Order]):
    aggregate_class = Order
    precondition = Precondition.MUST_EXIST

    def aggregate_id(self, command: Command[CancelOrder]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Order, command: Command[CancelOrder]) -> Sequence[DomainEvent]:
        if existing_state(aggregate).status != "placed":
            raise CommandRejected("only a placed order can be cancelled", code="not_placed")
        return [OrderCancelled(order_id=command.data.order_id, reason=command.data.reason)]


HANDLERS: dict[type[CommandData], type[Any]] = {
    OpenWarehouse: OpenWarehouseHandler,
    AddStock: AddStockHandler,
    MoveStock: MoveStockHandler,
    ReserveStock: ReserveStockHandler,
    ReleaseReservation: ReleaseReservationHandler,
    PlaceOrder: PlaceOrderHandler,
    ShipOrder: ShipOrderHandler,
    CancelOrder: CancelOrderHandler,
}

# -- the policy ------------------------------------------------------------------------------------

RESERVATION_TIME = timedelta(minutes=15)


class Fulfilment(Policy):
    """When an order is placed, reserve its stock; when that is rejected, cancel the order. A
    reservation is released 15 minutes after the order unless it is shipped or cancelled first."""

    name: ClassVar[str] = "fulfilment"
    event_types: ClassVar[Sequence[str]] = ("OrderPlaced", "OrderShipped", "OrderCancelled")
    registry: ClassVar[EventRegistry] = REGISTRY
    handlers = HANDLERS
    #: What to do when a reservation is rejected: by default a compensation.
    when_out_of_stock: ClassVar[str] = "cancel"
    #: What to do when the release is rejected (the reservation is gone already).
    when_released: ClassVar[OnRejected] = "ignore"

    def react(self, event: DomainEvent, envelope: RecordedEvent) -> Sequence[Effect]:
        match event:
            case OrderPlaced() if event.quantity > 0:
                on_rejected: OnRejected = "dead_letter"
                if self.when_out_of_stock == "cancel":
                    on_rejected = CancelOrder(order_id=event.order_id, reason="out of stock")
                return [
                    Send(
                        ReserveStock(
                            warehouse_id=event.warehouse_id,
                            order_id=event.order_id,
                            sku=event.sku,
                            quantity=event.quantity,
                        ),
                        on_rejected=on_rejected,
                    ),
                    Schedule(
                        "release",
                        ReleaseReservation(warehouse_id=event.warehouse_id, order_id=event.order_id),
                        key=event.order_id,
                        after=RESERVATION_TIME,
                        on_rejected=self.when_released,
                    ),
                ]
            case OrderShipped() | OrderCancelled():
                return [Cancel("release", key=event.order_id)]
        return []


class StrictFulfilment(Fulfilment):
    """The same, but a rejected reservation parks the event as a dead letter, and a rejected
    release fails its deadline."""

    name: ClassVar[str] = "strict_fulfilment"
    event_types: ClassVar[Sequence[str]] = ("OrderPlaced", "OrderShipped")
    when_out_of_stock: ClassVar[str] = "dead_letter"
    when_released: ClassVar[OnRejected] = "dead_letter"


#: The shop as a service (for the CLI and `run`): no read models, two policies.
SERVICE = Service("shop", registry=REGISTRY, policies=(Fulfilment(), StrictFulfilment()))
