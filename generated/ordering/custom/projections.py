"""Hand-written projection handlers of the ordering domain.

acci-gen created this file once and never overwrites it. Each function changes the read model in
`table` for one event: use `table` (a rebuild or a consistency check passes a scratch copy), take
every value from the event (never the clock), and do not commit: the runner's transaction does.
Until a function is written, the generated read-model test of its event fails with its name.
"""

from __future__ import annotations

from acci import RecordedEvent
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

from ..events import OrderLineAdded


async def order_summary_on_order_line_added(
    conn: AsyncConnection[TupleRow], table: sql.Identifier, event: RecordedEvent, payload: OrderLineAdded
) -> None:
    """order_summary: apply OrderLineAdded: the line's amount adds to the order's total."""
    await conn.execute(
        sql.SQL(
            "UPDATE {} SET total = coalesce(total, 0) + %s WHERE tenant_id = %s AND order_id = %s"
        ).format(table),
        [payload.amount, event.tenant_id, payload.order_id],
    )
