"""search_users: 100,000 users in the identity domain's user_view read model (five tenants), searched
with the generated `IdentityQueries.search_users` (name or e-mail ILIKE '%text%', ordered by name,
50 rows), with the trigram indexes of the domain's migration and without them.

There is no raw side: the comparison is ACCI's query with its indexes against the same query with
the `*_trgm` indexes dropped, shown in the raw column. The rows are COPYed in (setup speed); each
sample first creates or drops the indexes as its variant needs them (not timed), so that the
variants can be interleaved in one database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from acci.migrations import migrate
from identity.queries import IdentityQueries  # type: ignore[import-not-found, unused-ignore]
from identity.service import migrations  # type: ignore[import-not-found, unused-ignore]
from psycopg import sql

from bench.context import Context
from bench.people import SEARCHES, TENANTS, people
from bench.runner import Run, Sample, Target, Timer, Variant, Workload
from bench.settings import SEARCH_USERS

_COPY = "COPY public.user_view (tenant_id, id, email, name, status, created_at) FROM STDIN"
_TRGM_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
 WHERE schemaname = 'public' AND tablename = 'user_view' AND indexname LIKE '%\\_trgm' ORDER BY indexname
"""
_LIMIT = 50


def setup(ctx: Context) -> None:
    ctx.runner.run(migrate(ctx.url, migrations()))
    conn = ctx.raw()
    with conn.transaction(), conn.cursor().copy(_COPY) as copy:
        for p in people(SEARCH_USERS):
            copy.write_row((p.tenant_id, p.user_id, p.email, p.name, p.status, p.created_at))
    indexes = {row["indexname"]: row["indexdef"] for row in conn.execute(_TRGM_INDEXES).fetchall()}
    if not indexes:
        raise RuntimeError("search-users: the identity migrations created no *_trgm index on user_view")
    ctx.state["trgm_indexes"] = indexes
    ctx.state["trgm_present"] = True


def _use_indexes(ctx: Context, *, present: bool) -> None:
    """Create or drop the trigram indexes (as migrated) if they are not as wanted (not timed)."""
    if ctx.state["trgm_present"] == present:
        return
    conn = ctx.raw()
    indexes: dict[str, str] = ctx.state["trgm_indexes"]
    for name, definition in indexes.items():
        if present:
            conn.execute(definition.encode())
        else:
            conn.execute(sql.SQL("DROP INDEX public.{}").format(sql.Identifier(name)))
    ctx.state["trgm_present"] = present


def _search(*, indexed: bool, texts: Sequence[str] = SEARCHES) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        _use_indexes(ctx, present=indexed)
        queries = IdentityQueries.of(await ctx.store())
        tenants = [name for name, _ in TENANTS]
        work = [(tenants[i % len(tenants)], texts[i % len(texts)]) for i in range(ctx.mode.searches)]
        rows = 0
        timer = Timer()
        for tenant, text in work:
            found: list[Any] = await queries.search_users(tenant, query=text, limit=_LIMIT)
            rows += len(found)
        sample = timer.stop(len(work))
        ctx.state.setdefault("rows", {})[(indexed, tuple(texts))] = rows
        return sample

    return measure


#: Searches that match many users (hundreds to thousands per tenant) and few (none to dozens).
_COMMON = ("anna", "müller", "mann", "example.org", "firma", "ber", "lena", "schmidt")
_RARE = ("sophie.w", "jonas.k", "ingrid.s", "tom.schw", "xaver.l", "zzq", "lucía s", "son@")

WORKLOADS = [
    Workload(
        name="search-users",
        title="search_users in 100,000 users",
        unit="queries/s",
        raw_means="not raw psycopg but ACCI's search_users without the trigram indexes (dropped)",
        setup=setup,
        variants=[
            Variant("acci", "ACCI search_users, trigram indexes (as migrated)", _search(indexed=True)),
            Variant(
                "acci",
                "ACCI search_users, trigram indexes, common texts only",
                _search(indexed=True, texts=_COMMON),
            ),
            Variant(
                "acci",
                "ACCI search_users, trigram indexes, rare texts only",
                _search(indexed=True, texts=_RARE),
            ),
            Variant("raw", "ACCI search_users, trigram indexes dropped", _search(indexed=False)),
            Variant(
                "raw",
                "ACCI search_users, no trigram index, common texts only",
                _search(indexed=False, texts=_COMMON),
            ),
            Variant(
                "raw",
                "ACCI search_users, no trigram index, rare texts only",
                _search(indexed=False, texts=_RARE),
            ),
        ],
        targets=(Target("raw", 1.0),),
    )
]
