"""Swapping a rebuilt read model in: O(1) in the number of rows.

The rebuild fills a complete copy `<table>__rebuild` (with its indexes) while the live table
serves reads. The swap then renames, in one short transaction: the live table becomes
`<table>__old`, the copy becomes `<table>`; grants, owner, table comment and storage options are
carried over and the copy's indexes (with their constraints) take the old names. The old table
is dropped after the commit. A reader blocked on the rename resolves the name again once it is
granted the lock (PostgreSQL does so for every statement), so it reads the new table, whole.

A rename would lose what hangs on the table's identity rather than its name: views, foreign keys
pointing at it or from it, triggers, rules, row-level security, publications, inheritance, a
sequence it owns (serial). A table with any of these is swapped the old way (DELETE + INSERT of
every row, still in one transaction, holding the lock for as long as that takes) and the reason is
logged.
"""

from __future__ import annotations

import logging
import re

from psycopg import sql

from acci.projections.base import Connection, Projection

log = logging.getLogger("acci.projections")

OLD_SUFFIX = "__old"

# Whatever ties another object (or behaviour) to the live table's identity: one row per reason.
_BLOCKERS = """
SELECT 'it is not a plain table' FROM pg_class
 WHERE oid = %(live)s AND (relkind <> 'r' OR relispartition)
UNION ALL
SELECT 'it has row-level security' FROM pg_class
 WHERE oid = %(live)s AND (relrowsecurity OR relforcerowsecurity)
UNION ALL
SELECT 'it is part of an inheritance tree' FROM pg_inherits
 WHERE inhrelid = %(live)s OR inhparent = %(live)s
UNION ALL
SELECT format('view %%s reads it', v.ev_class::regclass) FROM pg_depend AS d
  JOIN pg_rewrite AS v ON d.classid = 'pg_rewrite'::regclass AND v.oid = d.objid
 WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = %(live)s AND v.ev_class <> %(live)s
UNION ALL
SELECT format('rule %%s', rulename) FROM pg_rewrite WHERE ev_class = %(live)s
UNION ALL
SELECT format('foreign key %%s', conname) FROM pg_constraint
 WHERE contype = 'f' AND (conrelid = %(live)s OR confrelid = %(live)s)
UNION ALL
SELECT format('trigger %%s', tgname) FROM pg_trigger WHERE tgrelid = %(live)s AND NOT tgisinternal
UNION ALL
SELECT format('publication %%s', p.pubname) FROM pg_publication_rel AS r
  JOIN pg_publication AS p ON p.oid = r.prpubid WHERE r.prrelid = %(live)s
UNION ALL
SELECT format('it owns sequence %%s', d.objid::regclass) FROM pg_depend AS d
  JOIN pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
   AND d.refobjid = %(live)s AND d.deptype = 'a'
UNION ALL
SELECT format('%%s cannot take over its owner %%s', current_user, relowner::regrole) FROM pg_class
 WHERE oid = %(live)s AND NOT pg_has_role(current_user, relowner, 'MEMBER')
"""

_INDEXES = """
SELECT c.relname, i.indisunique, i.indisprimary, pg_get_indexdef(i.indexrelid)
  FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
 WHERE i.indrelid = %s ORDER BY c.relname
"""

# Table privileges (grantee 0 is PUBLIC), then column privileges.
_GRANTS = """
SELECT a.privilege_type, coalesce(r.rolname, 'PUBLIC'), a.is_grantable, NULL::name
  FROM pg_class AS c, aclexplode(c.relacl) AS a
  LEFT JOIN pg_roles AS r ON r.oid = a.grantee
 WHERE c.oid = %(live)s AND a.grantee <> c.relowner
UNION ALL
SELECT a.privilege_type, coalesce(r.rolname, 'PUBLIC'), a.is_grantable, t.attname
  FROM pg_attribute AS t, aclexplode(t.attacl) AS a
  LEFT JOIN pg_roles AS r ON r.oid = a.grantee
 WHERE t.attrelid = %(live)s AND t.attnum > 0 AND NOT t.attisdropped
"""

_PRIVILEGE = re.compile(r"^[A-Z ]+$")


async def swap(conn: Connection, projection: Projection, suffix: str, *, lock_timeout: float | None) -> bool:
    """Inside the caller's transaction, which holds the projection's lock: make `<table><suffix>`
    the live table, by renaming when nothing stands in the way (True; the old table is left for
    `drop_old` after the commit), else by copying its rows (False). `lock_timeout` (seconds) bounds
    the wait for the live table's lock (psycopg.errors.LockNotAvailable)."""
    reasons = await blockers(conn, projection)
    if reasons:
        log.warning(
            "%s: swapped by copying every row (the lock is held meanwhile), as the table cannot be "
            "renamed: %s",
            projection.name,
            "; ".join(reasons),
        )
        await swap_by_copy(conn, projection, suffix)
        return False
    if lock_timeout is not None:
        await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'")
    await swap_by_rename(conn, projection, suffix)
    return True


async def swap_by_copy(conn: Connection, projection: Projection, suffix: str) -> None:
    """The swap in O(rows): every row deleted and inserted again, under the lock all along."""
    live = projection.table_identifier()
    new = projection.table_identifier(suffix)
    # DELETE, not TRUNCATE: readers keep seeing the old rows until this commits.
    await conn.execute(sql.SQL("DELETE FROM {}").format(live))
    await conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(live, new))
    await conn.execute(sql.SQL("DROP TABLE {}").format(new))


async def blockers(conn: Connection, projection: Projection) -> list[str]:
    """Why the live table cannot be swapped by renaming (empty: it can)."""
    live = await _oid(conn, projection.table_identifier())
    cur = await conn.execute(_BLOCKERS, {"live": live})
    return [str(row[0]) for row in await cur.fetchall()]


async def swap_by_rename(conn: Connection, projection: Projection, suffix: str) -> sql.Identifier:
    """Inside the caller's transaction (which holds the projection's lock and has checked
    `blockers`): make `<table><suffix>` the live table. Returns the old table, to be dropped by
    `drop_old` after the commit. Takes the live table's ACCESS EXCLUSIVE lock until the commit:
    only catalog rows change, whatever the number of rows."""
    name = projection.table_name()
    live = projection.table_identifier()
    new = projection.table_identifier(suffix)
    old = projection.table_identifier(OLD_SUFFIX)
    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(old))  # a swap's leftover
    await conn.execute(sql.SQL("LOCK TABLE {}, {} IN ACCESS EXCLUSIVE MODE").format(live, new))
    live_oid = await _oid(conn, live)
    new_oid = await _oid(conn, new)
    await _copy_owner_and_settings(conn, live_oid, new)
    await _copy_grants(conn, live_oid, new)
    renames = await _index_names(conn, live_oid, new_oid)
    schema = projection.schema
    for number, (old_index, _) in enumerate(renames):
        await conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(schema, old_index), sql.Identifier(f"{name}{OLD_SUFFIX}{number}")
            )
        )
    await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(live, sql.Identifier(name + OLD_SUFFIX)))
    await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(new, sql.Identifier(name)))
    # Renaming an index renames the constraint it carries (a primary key, a unique constraint).
    for old_index, new_index in renames:
        await conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(schema, new_index), sql.Identifier(old_index)
            )
        )
    return old


async def drop_old(conn: Connection, projection: Projection) -> None:
    """After the swap's commit: drop the replaced table (it waits only for readers that were
    still reading it; readers of the live table do not wait for it)."""
    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(projection.table_identifier(OLD_SUFFIX)))


async def _oid(conn: Connection, table: sql.Identifier) -> int:
    cur = await conn.execute("SELECT %s::regclass::oid", [table.as_string(conn)])
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _copy_owner_and_settings(conn: Connection, live: int, new: sql.Identifier) -> None:
    cur = await conn.execute(
        "SELECT relowner::regrole::text, reloptions, obj_description(oid, 'pg_class') "
        "FROM pg_class WHERE oid = %s",
        [live],
    )
    row = await cur.fetchone()
    assert row is not None
    owner, options, comment = row
    # regrole::text is already quoted where it needs to be.
    await conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(new, sql.SQL(owner)))
    for option in options or ():
        key, _, value = option.partition("=")
        await conn.execute(
            sql.SQL("ALTER TABLE {} SET ({} = {})").format(new, sql.Identifier(key), sql.Literal(value))
        )
    if comment is not None:
        await conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(new, sql.Literal(comment)))


async def _copy_grants(conn: Connection, live: int, new: sql.Identifier) -> None:
    cur = await conn.execute(_GRANTS, {"live": live})
    for privilege, grantee, grantable, column in await cur.fetchall():
        if not _PRIVILEGE.match(privilege):  # from the catalog; checked, as it becomes SQL text
            continue
        await conn.execute(
            sql.SQL("GRANT {} {} ON {} TO {}{}").format(
                sql.SQL(privilege),
                sql.SQL("({})").format(sql.Identifier(column)) if column is not None else sql.SQL(""),
                new,
                sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL(""),
            )
        )


async def _index_names(conn: Connection, live: int, new: int) -> list[tuple[str, str]]:
    """Pairs (live index, the copy's matching index), matched by definition; an index of the
    copy without exactly one match keeps its generated name."""

    def shape(unique: bool, primary: bool, definition: str) -> tuple[bool, bool, str]:
        return unique, primary, definition.partition(" USING ")[2]

    old_rows = await (await conn.execute(_INDEXES, [live])).fetchall()
    new_rows = await (await conn.execute(_INDEXES, [new])).fetchall()
    by_shape: dict[tuple[bool, bool, str], list[str]] = {}
    for index, unique, primary, definition in new_rows:
        by_shape.setdefault(shape(unique, primary, definition), []).append(index)
    pairs = []
    for index, unique, primary, definition in old_rows:
        candidates = by_shape.get(shape(unique, primary, definition), [])
        if len(candidates) == 1:
            pairs.append((index, candidates[0]))
    return pairs
