"""Two hand-written domains shaped like acci-gen's output for `publish:` and `consumes:`: orders
publishes OrderPlaced and OrderConfirmed as public events; billing reacts to them with commands
of its own, in its own database."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from acci import (
    Aggregate,
    Command,
    CommandData,
    CommandHandler,
    CommandRejected,
    DomainEvent,
    EventRegistry,
    Precondition,
)
from acci.integration import Consumes, Envelope, IntegrationEvent, Publication, Publisher, Reaction
from pydantic import BaseModel, ConfigDict

# -- the publishing domain: orders -------------------------------------------------------------


class OrderPlaced(DomainEvent):
    event_type: ClassVar[str] = "OrderPlaced"
    order_id: str
    amount: Decimal
    customer_email: str  # internal: not in the public shape


class OrderConfirmed(DomainEvent):
    event_type: ClassVar[str] = "OrderConfirmed"
    order_id: str


class OrderState(BaseModel):
    model_config = ConfigDict(frozen=True)
    order_id: str
    confirmed: bool = False


order_registry = EventRegistry([OrderPlaced, OrderConfirmed])


class Order(Aggregate[OrderState]):
    aggregate_type: ClassVar[str] = "Order"
    state_class: ClassVar[type[BaseModel]] = OrderState
    registry: ClassVar[EventRegistry] = order_registry
    snapshot_every: ClassVar[int | None] = None

    def evolve(self, state: OrderState | None, event: DomainEvent) -> OrderState:
        if isinstance(event, OrderPlaced):
            return OrderState(order_id=event.order_id)
        assert state is not None
        return state.model_copy(update={"confirmed": True})


class PlaceOrder(CommandData):
    command_type: ClassVar[str] = "PlaceOrder"
    order_id: str
    amount: Decimal
    customer_email: str = "buyer@example.com"


class ConfirmOrder(CommandData):
    command_type: ClassVar[str] = "ConfirmOrder"
    order_id: str


class PlaceOrderHandler(CommandHandler[PlaceOrder, Order]):
    aggregate_class = Order
    precondition = Precondition.MUST_NOT_EXIST

    def aggregate_id(self, command: Command[PlaceOrder]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Order, command: Command[PlaceOrder]) -> Sequence[DomainEvent]:
        data = command.data
        return [OrderPlaced(order_id=data.order_id, amount=data.amount, customer_email=data.customer_email)]


class ConfirmOrderHandler(CommandHandler[ConfirmOrder, Order]):
    aggregate_class = Order
    precondition = Precondition.MUST_EXIST

    def aggregate_id(self, command: Command[ConfirmOrder]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Order, command: Command[ConfirmOrder]) -> Sequence[DomainEvent]:
        return [OrderConfirmed(order_id=command.data.order_id)]


# The public shapes (acci-gen: `integration_events:`), versioned on their own.
class OrderPlacedV1(IntegrationEvent):
    event_type: ClassVar[str] = "OrderPlaced"
    schema_version: ClassVar[int] = 1
    order_id: str
    amount: Decimal


class OrderConfirmedV1(IntegrationEvent):
    event_type: ClassVar[str] = "OrderConfirmed"
    schema_version: ClassVar[int] = 1
    order_id: str


def order_placed_v1(event: OrderPlaced) -> OrderPlacedV1 | None:
    """Free orders are internal business: not published."""
    if event.amount == 0:
        return None
    return OrderPlacedV1(order_id=event.order_id, amount=event.amount)


def order_confirmed_v1(event: OrderConfirmed) -> OrderConfirmedV1:
    return OrderConfirmedV1(order_id=event.order_id)


def orders_publisher(domain: str) -> Publisher:
    return Publisher(
        domain,
        [
            Publication(OrderPlaced, OrderPlacedV1, order_placed_v1),
            Publication(OrderConfirmed, OrderConfirmedV1, order_confirmed_v1),
        ],
    )


# -- the consuming domain: billing -----------------------------------------------------------------


class AccountOpened(DomainEvent):
    event_type: ClassVar[str] = "AccountOpened"
    order_id: str
    amount: Decimal


class AccountConfirmed(DomainEvent):
    event_type: ClassVar[str] = "AccountConfirmed"
    order_id: str


class AccountState(BaseModel):
    model_config = ConfigDict(frozen=True)
    order_id: str
    confirmations: int = 0


billing_registry = EventRegistry([AccountOpened, AccountConfirmed])


class Account(Aggregate[AccountState]):
    aggregate_type: ClassVar[str] = "Account"
    state_class: ClassVar[type[BaseModel]] = AccountState
    registry: ClassVar[EventRegistry] = billing_registry
    snapshot_every: ClassVar[int | None] = None

    def evolve(self, state: AccountState | None, event: DomainEvent) -> AccountState:
        if isinstance(event, AccountOpened):
            return AccountState(order_id=event.order_id)
        assert state is not None
        return state.model_copy(update={"confirmations": state.confirmations + 1})


class OpenAccount(CommandData):
    command_type: ClassVar[str] = "OpenAccount"
    order_id: str
    amount: Decimal


class ConfirmAccount(CommandData):
    command_type: ClassVar[str] = "ConfirmAccount"
    order_id: str


class OpenAccountHandler(CommandHandler[OpenAccount, Account]):
    """No precondition on purpose: a second OpenAccount would append a second AccountOpened, so
    only the command id keeps a redelivered message from taking effect twice."""

    aggregate_class = Account

    def aggregate_id(self, command: Command[OpenAccount]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Account, command: Command[OpenAccount]) -> Sequence[DomainEvent]:
        if command.data.amount < 0:
            raise CommandRejected("an account cannot open with a negative amount", code="negative")
        return [AccountOpened(order_id=command.data.order_id, amount=command.data.amount)]


class ConfirmAccountHandler(CommandHandler[ConfirmAccount, Account]):
    """Needs the account: a confirmation that overtook its OrderPlaced would fail."""

    aggregate_class = Account
    precondition = Precondition.MUST_EXIST

    def aggregate_id(self, command: Command[ConfirmAccount]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Account, command: Command[ConfirmAccount]) -> Sequence[DomainEvent]:
        return [AccountConfirmed(order_id=command.data.order_id)]


def open_account(event: OrderPlacedV1, envelope: Envelope) -> OpenAccount:
    return OpenAccount(order_id=event.order_id, amount=event.amount)


def confirm_account(event: OrderConfirmedV1, envelope: Envelope) -> ConfirmAccount:
    return ConfirmAccount(order_id=event.order_id)


def billing_consumes(domain: str) -> Consumes:
    return Consumes(
        domain,
        [
            Reaction(OrderPlacedV1, open_account, OpenAccountHandler),
            Reaction(OrderConfirmedV1, confirm_account, ConfirmAccountHandler),
        ],
    )
