"""The end of a rebuild: swapping the rebuilt read model in, at 100,000 and 1,000,000 rows.

The table is shaped like `user_view` (a primary key and one more index). Setup builds the live
table and a complete rebuilt copy (`<table>__rebuild`, `LIKE ... INCLUDING ALL`), with N rows each.
A sample is the swap's transaction, timed from taking the projection's lock to the commit: the time
an inline projection's writers (and the live runner) wait, and readers too for the rename's
ACCESS EXCLUSIVE moment.

ACCI's rebuild swaps by renaming (`acci.projections._swap.swap`: the dependency check, the lock
of both tables, owner, grants and index names carried over, two renames). The reference is the
swap rebuilds did before: DELETE of every live row and INSERT ... SELECT of every rebuilt one, in
one transaction (`swap_by_copy`, still what a table with a view on it gets). Between samples (not
timed) the replaced table is put back as the next rebuilt copy, so both sides always swap N rows.
The figure is swaps/s; the lock is held for 1000 / that many milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from acci.projections import Projection
from acci.projections._swap import OLD_SUFFIX, drop_old, swap, swap_by_copy

from bench.context import Context
from bench.runner import Run, Sample, Timer, Variant, Workload

_SUFFIX = "__rebuild"

_TABLE = """
DROP TABLE IF EXISTS public.swap_view, public.swap_view__rebuild, public.swap_view__old;
CREATE TABLE public.swap_view (
    tenant_id  text NOT NULL,
    id         text NOT NULL,
    email      text NOT NULL,
    name       text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX swap_view_email ON public.swap_view (tenant_id, email);
"""
_ROWS = """
INSERT INTO {table} (tenant_id, id, email, name, status, created_at)
SELECT 'tenant' || (i %% 5), 'user-' || i, 'user' || i || '@example.com', 'User Number ' || i, 'active',
       timestamptz '2026-01-01' + i * interval '1 second'
  FROM generate_series(1, %s) AS i
"""


class _SwapView(Projection):
    name: ClassVar[str] = "swap_view"
    event_types: ClassVar[Sequence[str]] = ("SwapBenchNothing",)


def _setup(rows: int) -> Callable[[Context], None]:
    def setup(ctx: Context) -> None:
        conn = ctx.raw()
        conn.execute(_TABLE)
        conn.execute(_ROWS.format(table="public.swap_view"), [rows])
        _new_copy(ctx, rows)

    return setup


def _new_copy(ctx: Context, rows: int) -> None:
    conn = ctx.raw()
    conn.execute("DROP TABLE IF EXISTS public.swap_view__rebuild")
    conn.execute("CREATE TABLE public.swap_view__rebuild (LIKE public.swap_view INCLUDING ALL)")
    conn.execute(_ROWS.format(table="public.swap_view__rebuild"), [rows])
    conn.execute("VACUUM ANALYZE public.swap_view__rebuild")


def _measure(rename: bool, rows: int) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        store = await ctx.store()
        projection = _SwapView()
        async with store.pool.connection() as conn:
            timer = Timer()
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", [projection.lock_key()])
                if rename:
                    renamed = await swap(conn, projection, _SUFFIX, lock_timeout=None)
                    if not renamed:
                        raise RuntimeError("rebuild-swap: the table was copied, not renamed")
                else:
                    await swap_by_copy(conn, projection, _SUFFIX)
            sample = timer.stop(1)
            if rename:  # the replaced table becomes the next rebuilt copy (not timed)
                await conn.execute(f"ALTER TABLE public.swap_view{OLD_SUFFIX} RENAME TO swap_view{_SUFFIX}")
            await drop_old(conn, projection)
        if not rename:
            _new_copy(ctx, rows)
        return sample

    return measure


def _workload(rows: int, tag: str) -> Workload:
    return Workload(
        name=f"rebuild-swap-{tag}",
        title=f"rebuild swap of a {rows:,}-row read model (primary key + 1 index)",
        unit="swaps/s",
        raw_means="not raw psycopg but the former swap: DELETE + INSERT ... SELECT of every row",
        setup=_setup(rows),
        variants=[
            Variant(
                "acci", "ACCI rebuild swap: rename in one transaction (O(1) in rows)", _measure(True, rows)
            ),
            Variant("raw", "DELETE + INSERT ... SELECT of every row, one transaction", _measure(False, rows)),
        ],
    )


WORKLOADS = [_workload(100_000, "100k"), _workload(1_000_000, "1m")]
