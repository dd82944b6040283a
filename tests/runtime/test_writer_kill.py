"""A writer process killed (SIGKILL) while its coalesced appends are in flight: every append that
returned success is stored, none that raised is, and the streams stay contiguous."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from pathlib import Path

import pytest
from acci import PostgresEventStore

from tests.runtime.append_writer import STREAMS

ROOT = Path(__file__).resolve().parents[2]


async def run_and_kill(url: str, outcomes: int, *more: str) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Start the writer (with `more` arguments), let `outcomes` appends return, SIGKILL it; the
    ids it reported."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.runtime.append_writer",
        url,
        *more,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    ok: set[uuid.UUID] = set()
    failed: set[uuid.UUID] = set()
    try:
        while len(ok) + len(failed) < outcomes:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, "the writer process ended on its own"
            kind, event_id = line.decode().split()
            (ok if kind == "ok" else failed).add(uuid.UUID(event_id))
    finally:
        process.send_signal(signal.SIGKILL)
        # Lines it printed before it died count too: those appends returned.
        rest = await asyncio.wait_for(process.stdout.read(), 30)
        await process.wait()
    for text in rest.decode().splitlines():
        if len(text.split()) == 2:
            kind, event_id = text.split()
            (ok if kind == "ok" else failed).add(uuid.UUID(event_id))
    return ok, failed


@pytest.mark.slow
async def test_a_writer_killed_mid_flush_keeps_exactly_what_it_confirmed(acci_database_url: str) -> None:
    ok: set[uuid.UUID] = set()
    failed: set[uuid.UUID] = set()
    for outcomes in (400, 700):
        more_ok, more_failed = await run_and_kill(acci_database_url, outcomes)
        ok |= more_ok
        failed |= more_failed
    assert failed, "no conflicts: the writers did not race"
    async with await PostgresEventStore.open(acci_database_url) as store:
        await until_the_killed_sessions_end(store)
        stored = {stream: await store.read_stream(stream) for stream in STREAMS}
    ids = {e.id for events in stored.values() for e in events}
    assert ok <= ids, "an append that returned success is missing"
    assert not failed & ids, "an append that raised was stored"
    for events in stored.values():
        assert [e.version for e in events] == list(range(1, len(events) + 1))


async def until_the_killed_sessions_end(store: PostgresEventStore) -> None:
    """A statement the server was running when its client died still runs to its end."""
    async with store.pool.connection() as conn:
        for _ in range(1000):
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if await cur.fetchone() == (0,):
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the killed writer's sessions did not end")
