"""The domains of the integration-event benchmarks (bench/workloads/relay.py, bench/relay_latency.py):
`shop` publishes OrderPlaced as a public event; `billing` opens an account for each order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from acci import Aggregate, Command, CommandData, CommandHandler, DomainEvent, EventRegistry
from acci.integration import Consumes, Envelope, IntegrationEvent, Publication, Publisher, Reaction
from pydantic import BaseModel

#: About the size of the other workloads' payloads (bench/model.py): 314 bytes of JSON.
NOTE = "x" * 200


class OrderPlaced(DomainEvent):
    event_type: ClassVar[str] = "OrderPlaced"
    order_id: str
    customer: str
    amount_cents: int
    note: str


class OrderPlacedV1(IntegrationEvent):
    event_type: ClassVar[str] = "OrderPlaced"
    schema_version: ClassVar[int] = 1
    order_id: str
    customer: str
    amount_cents: int
    note: str


REGISTRY = EventRegistry([OrderPlaced])


def order(n: int) -> OrderPlaced:
    return OrderPlaced(order_id=f"order-{n}", customer=f"customer-{n % 977}", amount_cents=100 + n, note=NOTE)


def to_public(event: OrderPlaced) -> OrderPlacedV1:
    return OrderPlacedV1(
        order_id=event.order_id, customer=event.customer, amount_cents=event.amount_cents, note=event.note
    )


def publisher(domain: str) -> Publisher:
    return Publisher(domain, [Publication(OrderPlaced, OrderPlacedV1, to_public)])


class AccountOpened(DomainEvent):
    event_type: ClassVar[str] = "AccountOpened"
    order_id: str


class AccountState(BaseModel):
    order_id: str


class Account(Aggregate[AccountState]):
    aggregate_type: ClassVar[str] = "Account"
    state_class: ClassVar[type[BaseModel]] = AccountState
    registry: ClassVar[EventRegistry] = EventRegistry([AccountOpened])
    snapshot_every: ClassVar[int | None] = None

    def evolve(self, state: AccountState | None, event: DomainEvent) -> AccountState:
        assert isinstance(event, AccountOpened)
        return AccountState(order_id=event.order_id)


class OpenAccount(CommandData):
    command_type: ClassVar[str] = "OpenAccount"
    order_id: str


class OpenAccountHandler(CommandHandler[OpenAccount, Account]):
    aggregate_class = Account

    def aggregate_id(self, command: Command[OpenAccount]) -> str:
        return command.data.order_id

    def decide(self, aggregate: Account, command: Command[OpenAccount]) -> Sequence[DomainEvent]:
        return [AccountOpened(order_id=command.data.order_id)]


def open_account(event: OrderPlacedV1, envelope: Envelope) -> OpenAccount:
    return OpenAccount(order_id=event.order_id)


def consumes(domain: str) -> Consumes:
    return Consumes(domain, [Reaction(OrderPlacedV1, open_account, OpenAccountHandler)])
