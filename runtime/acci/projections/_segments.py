"""Segments of a projection: how it is split (acci.projection_splits), which locks each segment
takes, and who runs it.

A projection split into N segments has N checkpoint rows (segment 0..N-1 of N); segment i owns the
streams with `acci.stream_segment(tenant, type, id, N) = i`, so each stream is applied by one
segment, in order. Without a row in acci.projection_splits a projection has one segment (0 of 1),
its checkpoint row as before segments existed.

Locks: an unsegmented projection's batch takes the projection's lock exclusively, as it always did.
A segment's batch takes it shared, and its own segment lock exclusively: segments run side by
side, while whatever needs the whole projection still (a rebuild's swap, a dead-letter replay, a
re-split) takes the projection's lock exclusively and so waits for, and holds off, every segment.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from acci.errors import ConfigurationError, shown
from acci.projections._checkpoints import read_checkpoints
from acci.projections.base import Connection, projection_lock_key

log = logging.getLogger("acci.projections")

#: The most segments a projection may have (the table's check says the same).
MAX_SEGMENTS = 1024


@dataclass(frozen=True, slots=True)
class Split:
    segments: int
    #: A re-split is driving the segments to one position: live runners pause meanwhile.
    resplitting: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """Segment `index` of a projection (its checkpoint `name`) split into `count`."""

    name: str
    index: int = 0
    count: int = 1

    @property
    def segmented(self) -> bool:
        return self.count > 1

    @property
    def lock_key(self) -> int:
        """The batch lock: the projection's own when unsegmented, else the segment's."""
        if not self.segmented:
            return projection_lock_key(self.name)
        return projection_lock_key(f"{self.name}#{self.index}/{self.count}")

    @property
    def active_key(self) -> int:
        """The session lock of the process running this segment live."""
        if not self.segmented:
            return projection_lock_key(self.name + "#active")
        return projection_lock_key(f"{self.name}#active#{self.index}/{self.count}")

    def __str__(self) -> str:
        return self.name if not self.segmented else f"{self.name} segment {self.index}/{self.count}"


def check_count(name: str, segments: int) -> int:
    if not 1 <= segments <= MAX_SEGMENTS:
        raise ConfigurationError(
            f"projection {shown(name)}: {segments} segments; a projection has 1 to {MAX_SEGMENTS} segments."
        )
    return segments


def process_owner() -> str:
    """This process, as a segment's owner is shown: host and pid (not a PostgreSQL backend)."""
    return f"{socket.gethostname()} pid {os.getpid()}"


async def read_split(conn: Connection, name: str) -> Split:
    cur = await conn.execute(
        "SELECT segments, resplitting FROM acci.projection_splits WHERE name = %s", [name], prepare=True
    )
    row = await cur.fetchone()
    return Split(int(row[0]), bool(row[1])) if row else Split(1)


async def ensure_split(conn: Connection, name: str, configured: int) -> Split:
    """The recorded split of `name`; the first time a projection runs with more than one segment,
    record `configured` (its unsegmented checkpoint, if any, becomes every segment's: each segment
    owns a part of the streams it had reached). A recorded split wins over the configuration;
    `resplit` changes it."""
    split = await read_split(conn, name)
    if await _has_split_row(conn, name) or configured <= 1:
        if configured > 1 and split.segments != configured:
            log.warning(
                "%s runs as %d segment(s) as recorded, not the %d configured; `acci projections "
                "resplit` changes the split",
                name,
                split.segments,
                configured,
            )
        return split
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [projection_lock_key(name)])
        if await _has_split_row(conn, name):  # another process was first
            return await read_split(conn, name)
        await write_split(conn, name, configured)
    return Split(configured)


async def _has_split_row(conn: Connection, name: str) -> bool:
    cur = await conn.execute("SELECT FROM acci.projection_splits WHERE name = %s", [name])
    return await cur.fetchone() is not None


async def write_split(conn: Connection, name: str, segments: int) -> None:
    """Inside a transaction holding the projection's lock exclusively, with every segment at the
    same position (or only one segment): record `segments` and one checkpoint row each, at that
    position, with the status the projection had."""
    rows = await read_checkpoints(conn, name)
    positions = {row.position for row in rows}
    if len(positions) > 1:
        raise AssertionError(f"{name}: segments at different positions cannot be re-split: {positions}")
    await conn.execute(
        """
        INSERT INTO acci.checkpoints (name, segment, segments, transaction_id, global_position, status)
        SELECT %(name)s, s, %(segments)s, coalesce(c.transaction_id, '0'), coalesce(c.global_position, 0),
               coalesce(c.status, 'running')
          FROM generate_series(0, %(segments)s - 1) AS s
          LEFT JOIN (SELECT transaction_id, global_position, status FROM acci.checkpoints
                      WHERE name = %(name)s ORDER BY status = 'halted' DESC LIMIT 1) AS c ON true
        ON CONFLICT (name, segment) DO UPDATE
           SET segments = EXCLUDED.segments, transaction_id = EXCLUDED.transaction_id,
               global_position = EXCLUDED.global_position, status = EXCLUDED.status, owner = NULL,
               updated_at = clock_timestamp()
        """,
        {"name": name, "segments": segments},
    )
    await conn.execute("DELETE FROM acci.checkpoints WHERE name = %s AND segment >= %s", [name, segments])
    await conn.execute(
        """
        INSERT INTO acci.projection_splits (name, segments) VALUES (%s, %s)
        ON CONFLICT (name) DO UPDATE
           SET segments = EXCLUDED.segments, resplitting = false, changed_at = clock_timestamp()
        """,
        [name, segments],
    )


async def set_resplitting(conn: Connection, name: str, on: bool) -> None:
    await conn.execute(
        """
        INSERT INTO acci.projection_splits (name, segments, resplitting) VALUES (%s, 1, %s)
        ON CONFLICT (name) DO UPDATE SET resplitting = EXCLUDED.resplitting
        """,
        [name, on],
    )
