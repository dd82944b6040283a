"""The hand-written decision of PlaceOrder (ordering domain).

acci-gen created this file once and never overwrites it: it is yours to edit. The generated
PlaceOrderHandler calls `decide_place_order` after the precondition and the `requires:` rules of
the domain file have passed, and appends the events it returns.
"""

from __future__ import annotations

from collections.abc import Sequence

from acci import Command, CommandRejected

from ..aggregates import OrderState
from ..commands import PlaceOrder
from ..events import OrderPlaced


def decide_place_order(
    state: OrderState,
    command: Command[PlaceOrder],
) -> Sequence[OrderPlaced]:
    """Place the order with its current total; an order without lines is refused."""
    if not state.lines:
        raise CommandRejected("an order needs at least one line to be placed", code="empty_order")
    return [
        OrderPlaced(
            order_id=command.data.order_id,
            total=state.total,
            shipping_address=command.data.shipping_address,
            placed_at=command.metadata.timestamp,
        )
    ]
