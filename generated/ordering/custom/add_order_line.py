"""The hand-written decision of AddOrderLine (ordering domain).

acci-gen created this file once and never overwrites it: it is yours to edit. The generated
AddOrderLineHandler calls `decide_add_order_line` after the precondition and the `requires:` rules
of the domain file have passed, and appends the events it returns.
"""

from __future__ import annotations

from collections.abc import Sequence

from acci import Command

from ..aggregates import OrderState
from ..commands import AddOrderLine
from ..events import OrderLine, OrderLineAdded


def decide_add_order_line(
    state: OrderState,
    command: Command[AddOrderLine],
) -> Sequence[OrderLineAdded]:
    """Price the line: quantity times unit price."""
    data = command.data
    line = OrderLine(sku=data.sku, quantity=data.quantity, unit_price=data.unit_price)
    return [OrderLineAdded(order_id=data.order_id, line=line, amount=data.unit_price * data.quantity)]
