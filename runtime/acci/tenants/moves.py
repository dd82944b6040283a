"""Moving a tenant to another database (`acci tenants move`), and purging what it left behind
(`acci tenants purge`).

A move, in four steps, each committed before the next:

1. The directory entry is set to 'moving' (writers that meet TenantMoved wait and retry).
2. The source database refuses the tenant's writes: the tenant joins acci.tenants_moved_away
   there, and the trigger that checks it is created if the database has none yet. Both happen
   under a lock on acci.events that waits for every write in flight, so that no write of the
   tenant commits in the source after this step.
3. In one transaction on the target: the tenant's streams, command records, snapshots and
   deadlines, then its events in the source's global order (they get new positions there, in
   that order), and the target's inline projections applied to them. The target's runners then
   apply them to its other read models like any new events.
4. The directory entry names the target: the tenant's writes and reads go there.

If step 3 fails (the target already holds the tenant, the connection fails), steps 2 and 1 are
undone and the tenant stays where it was. Nothing is deleted from the source: `purge` deletes
the tenant's events, records and read-model rows there once no process reads it any more (after
the directory's cache time, ACCI_TENANTS__DIRECTORY_TTL). Dead letters stay with the database
they were parked in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from acci.errors import ConfigurationError, shown
from acci.projections.base import Projection
from acci.store._pg_errors import database_errors
from acci.store.postgres import PostgresEventStore, tenant_events
from acci.tenants.router import TenantRouter

Connection = psycopg.AsyncConnection[TupleRow]

#: The tenant's rows a move copies besides its events, in this order.
_RECORDS = ("streams", "commands", "snapshots", "deadlines")
#: What a purge deletes (the events last).
_PURGED = ("commands", "snapshots", "deadlines", "dead_letters", "streams", "events")

_TRIGGER = "events_refuse_moved_tenants"

_COLUMNS = """
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'acci' AND table_name = %s AND is_generated = 'NEVER' AND identity_generation IS NULL
 ORDER BY ordinal_position
"""

_SET_ENTRY = """
INSERT INTO acci.tenant_directory (tenant_id, database, state) VALUES (%s, %s, %s)
ON CONFLICT (tenant_id) DO UPDATE
   SET database = EXCLUDED.database, state = EXCLUDED.state, updated_at = clock_timestamp()
"""


@dataclass(frozen=True)
class MoveResult:
    tenant_id: str
    source: str
    target: str
    events: int
    streams: int


async def move_tenant(router: TenantRouter, tenant_id: str, target: str) -> MoveResult:
    """Move the tenant's streams to database `target` and switch its directory entry (see the
    module for the steps)."""
    source, _ = await router.entry(tenant_id)
    if source == target:
        raise ConfigurationError(f"tenant {shown(tenant_id)} is in database {target!r} already")
    source_store, target_store = router.store(source), router.store(target)
    await _set_entry(router, tenant_id, source, "moving")
    try:
        await _block(source_store, tenant_id, target)
        try:
            events, streams = await _copy(source_store, target_store, tenant_id)
        except BaseException:
            await _unblock(source_store, tenant_id)
            raise
    except BaseException:
        await _set_entry(router, tenant_id, source, "active")
        raise
    await _set_entry(router, tenant_id, target, "active")
    router.forget(tenant_id)
    return MoveResult(tenant_id, source, target, events, streams)


async def purge_tenant(
    router: TenantRouter, tenant_id: str, database: str, projections: Sequence[Projection] = ()
) -> dict[str, int]:
    """Delete the tenant's events, records and the rows of `projections`' read models from
    `database`, which must not be the tenant's (a database it has moved away from). The tenant
    stays listed there as moved away, so that a stale writer still fails there. Returns the rows
    deleted per table."""
    home, _ = await router.entry(tenant_id)
    if home == database:
        raise ConfigurationError(
            f"tenant {shown(tenant_id)} lives in database {database!r}: purge only deletes what a tenant "
            "left behind in a database it has moved away from"
        )
    deleted: dict[str, int] = {}
    with database_errors(f"purging tenant {tenant_id} from {database}"):
        async with router.store(database).pool.connection() as conn, conn.transaction():
            for table in _PURGED:
                cur = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE tenant_id = %s").format(sql.Identifier("acci", table)),
                    [tenant_id],
                )
                deleted[f"acci.{table}"] = cur.rowcount
            for projection in projections:
                name = projection.table_name()
                if await _has_tenant_column(conn, projection.schema, name):
                    cur = await conn.execute(
                        sql.SQL("DELETE FROM {} WHERE tenant_id = %s").format(projection.table_identifier()),
                        [tenant_id],
                    )
                    deleted[f"{projection.schema}.{name}"] = cur.rowcount
    return deleted


async def list_directory(router: TenantRouter) -> list[tuple[str, str, str]]:
    """The directory's entries: (tenant, database, state), by tenant."""
    with database_errors("reading the tenant directory"):
        async with router.control.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT tenant_id, database, state FROM acci.tenant_directory ORDER BY 1"
            )
            return [(str(t), str(d), str(s)) for t, d, s in await cur.fetchall()]


async def database_sizes(router: TenantRouter) -> dict[str, tuple[int, int]]:
    """Per database: how many tenants have streams there, and its events (the planner's
    estimate: counting them all would read the table)."""
    sizes: dict[str, tuple[int, int]] = {}
    for name, store in router.stores.items():
        with database_errors(f"sizing database {name}"):
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT (SELECT count(DISTINCT tenant_id) FROM acci.streams), "
                    "(SELECT greatest(reltuples, 0)::bigint FROM pg_class "
                    "  WHERE oid = 'acci.events'::regclass)"
                )
                ((tenants, events),) = await cur.fetchall()
        sizes[name] = (int(tenants), int(events))
    return sizes


async def _set_entry(router: TenantRouter, tenant_id: str, database: str, state: str) -> None:
    with database_errors("writing the tenant directory"):
        async with router.control.pool.connection() as conn:
            await conn.execute(_SET_ENTRY, [tenant_id, database, state])


async def _block(store: PostgresEventStore, tenant_id: str, target: str) -> None:
    """Step 2: from its commit on, the source refuses the tenant's writes, and every write that
    was in flight has committed (or failed)."""
    with database_errors(f"blocking tenant {tenant_id}'s writes"):
        async with store.pool.connection() as conn, conn.transaction():
            # Waits for every transaction that has written events and is still open; those that
            # write after it see the trigger and the tenant's row.
            await conn.execute("LOCK TABLE acci.events IN SHARE ROW EXCLUSIVE MODE")
            cur = await conn.execute(
                "SELECT FROM pg_trigger WHERE tgrelid = 'acci.events'::regclass AND tgname = %s", [_TRIGGER]
            )
            if not await cur.fetchall():
                await conn.execute(
                    sql.SQL(
                        "CREATE TRIGGER {} AFTER INSERT ON acci.events REFERENCING NEW TABLE AS appended "
                        "FOR EACH STATEMENT EXECUTE FUNCTION acci.refuse_moved_tenants()"
                    ).format(sql.Identifier(_TRIGGER))
                )
            await conn.execute(
                "INSERT INTO acci.tenants_moved_away (tenant_id, moved_to) VALUES (%s, %s) ON CONFLICT "
                "(tenant_id) DO UPDATE SET moved_to = EXCLUDED.moved_to, moved_at = clock_timestamp()",
                [tenant_id, target],
            )


async def _unblock(store: PostgresEventStore, tenant_id: str) -> None:
    with database_errors(f"unblocking tenant {tenant_id}'s writes"):
        async with store.pool.connection() as conn:
            await conn.execute("DELETE FROM acci.tenants_moved_away WHERE tenant_id = %s", [tenant_id])


async def _copy(source: PostgresEventStore, target: PostgresEventStore, tenant_id: str) -> tuple[int, int]:
    """Step 3: the tenant's rows into the target in one transaction; (events, streams) copied."""
    with database_errors(f"copying tenant {tenant_id}"):
        async with (
            source.pool.connection() as src,
            target.pool.connection() as dst,
            src.transaction(),
            dst.transaction(),
        ):
            held = await dst.execute("SELECT count(*) FROM acci.streams WHERE tenant_id = %s", [tenant_id])
            ((count,),) = await held.fetchall()
            if count:
                raise ConfigurationError(
                    f"the target database already holds {count} stream(s) of tenant {shown(tenant_id)}: "
                    "purge them there first (`acci tenants purge`); nothing was moved"
                )
            # Moving back to a database the tenant once left: it may write there again.
            await dst.execute("DELETE FROM acci.tenants_moved_away WHERE tenant_id = %s", [tenant_id])
            for table in _RECORDS:
                await _copy_rows(src, dst, table, tenant_id, order="")
            await _copy_rows(src, dst, "events", tenant_id, order="transaction_id, global_position")
            events = await tenant_events(dst, tenant_id)
            await target.apply_inline(dst, events)
            await dst.execute("SELECT acci.notify_appended(%s)", [tenant_id])
            streams = await dst.execute("SELECT count(*) FROM acci.streams WHERE tenant_id = %s", [tenant_id])
            ((stream_count,),) = await streams.fetchall()
    return len(events), int(stream_count)


async def _copy_rows(src: Connection, dst: Connection, table: str, tenant_id: str, *, order: str) -> None:
    """COPY the tenant's rows of acci.`table` from `src` to `dst` (binary: the same migrations on
    both). Identity and defaulted order columns are left to the target (new positions)."""
    rows = await (await src.execute(_COLUMNS, [table])).fetchall()
    columns = [name for (name,) in rows if not (table == "events" and name == "transaction_id")]
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    target = sql.Identifier("acci", table)
    select = sql.SQL("SELECT {} FROM {} WHERE tenant_id = {}").format(names, target, sql.Literal(tenant_id))
    if order:
        select = sql.SQL("{} ORDER BY {}").format(select, sql.SQL(order))
    out = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select)
    into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(target, names)
    async with src.cursor().copy(out) as reading, dst.cursor().copy(into) as writing:
        async for data in reading:
            await writing.write(data)


async def _has_tenant_column(conn: Connection, schema: str, table: str) -> bool:
    cur = await conn.execute(
        "SELECT FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "AND column_name = 'tenant_id'",
        [schema, table],
    )
    return bool(await cur.fetchall())
