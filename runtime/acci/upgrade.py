"""The offline upgrade: rewrite stored events into their current schema version.

Stored events are never rewritten by default (every read path upcasts). Teams that want old
events stored in the current shape run this once: each event of an older version is upcast,
validated against its current class, and written back, with its original data kept in
`acci.event_rewrites`. It works in batches, each in one transaction, so it can be stopped and
started again at any time: what is done stays done, and the rest is found by its version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from acci.errors import EventDecodeError
from acci.registry import EventRegistry
from acci.store._pg_errors import database_errors
from acci.store.postgres import PostgresEventStore, read_event_on


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    rewritten: int
    #: Events that did not validate after upcasting (left as they are), as "type id: problem".
    failed: list[str]


async def count_outdated(store: PostgresEventStore, registry: EventRegistry) -> int:
    """How many stored events are older than their type's current schema version."""
    total = 0
    with database_errors("counting outdated events"):
        async with store.pool.connection() as conn:
            for event_type in registry.event_types:
                cur = await conn.execute(
                    "SELECT count(*) FROM acci.events WHERE event_type = %s AND schema_version < %s",
                    [event_type, registry.current_version(event_type)],
                )
                row = await cur.fetchone()
                total += int(row[0]) if row else 0
    return total


async def upgrade_events(
    store: PostgresEventStore,
    registry: EventRegistry,
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> UpgradeResult:
    """Rewrite every outdated event of the registry's types into its current version."""
    rewritten = 0
    failed: list[str] = []
    skip: set[object] = set()
    for event_type in registry.event_types:
        current = registry.current_version(event_type)
        after = (0, 0)  # keyset over (transaction_id, global_position): the by-type index, in order
        while True:
            with database_errors(f"upgrading {event_type} events"):
                async with store.pool.connection() as conn, conn.transaction():
                    cur = await conn.execute(
                        """
                        SELECT id, transaction_id::text::bigint, global_position FROM acci.events
                         WHERE event_type = %s AND schema_version < %s
                           AND (transaction_id, global_position) > (%s::text::xid8, %s)
                         ORDER BY events.transaction_id, events.global_position LIMIT %s
                         FOR UPDATE
                        """,
                        [event_type, current, after[0], after[1], batch_size],
                    )
                    ids = await cur.fetchall()
                    if not ids:
                        break
                    after = (ids[-1][1], ids[-1][2])
                    for event_id, _, _ in ids:
                        event = await read_event_on(conn, event_id)
                        if event is None or event_id in skip:
                            continue
                        try:
                            registry.decode(event)  # validate the upcast result
                        except EventDecodeError as error:
                            failed.append(f"{event_type} {event_id}: {error}")
                            skip.add(event_id)
                            continue
                        upgraded = registry.upcast_recorded(event)
                        await conn.execute(
                            """
                            INSERT INTO acci.event_rewrites (event_id, schema_version, data)
                            VALUES (%s, %s, %s::jsonb) ON CONFLICT DO NOTHING
                            """,
                            [event.id, event.schema_version, event.data_json],
                        )
                        await conn.execute(
                            "UPDATE acci.events SET data = %s::jsonb, schema_version = %s WHERE id = %s",
                            [upgraded.data_json, upgraded.schema_version, event.id],
                        )
                        rewritten += 1
            if progress:
                progress(rewritten)
    return UpgradeResult(rewritten, failed)
