"""Commands: load, decide, append, one after another, round robin over 100 existing users; and the same
with 8, 32 and 128 concurrent senders, each with users of its own (so that they do not conflict), with
the time of each command. ACCI's senders are asyncio tasks sharing one store (its appends coalesced);
raw psycopg's and eventsourcing's are threads."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack, nullcontext
from typing import Any

from acci import Command, CommandMetadata
from psycopg.rows import DictRow

from bench.context import Context
from bench.model import (
    AGGREGATE_TYPE,
    TENANT,
    EsUser,
    UpdateProfile,
    UpdateProfileHandler,
    es_user,
    fold_rows,
    payload,
)
from bench.runner import Run, Sample, Target, Timer, Variant, Workload
from bench.settings import COMMAND_AGGREGATES, MAX_CONNECTIONS
from bench.workloads.common import RAW_INSERT, RAW_READ_STREAM, acci_fill, in_threads, raw_fill, raw_row


def setup(ctx: Context, aggregates: int = COMMAND_AGGREGATES) -> None:
    for k in range(aggregates):
        ctx.runner.run(acci_fill(ctx, f"user-{k}", 1))
        raw_fill(ctx, f"user-{k}", 1)
    app = ctx.es_app()
    users = [es_user(1, k) for k in range(aggregates)]
    app.save(*users)
    ctx.state["es_ids"] = [user.id for user in users]


async def acci_commands(ctx: Context, run: int) -> Sample:
    n = ctx.mode.commands
    handler = UpdateProfileHandler(await ctx.store())
    meta = CommandMetadata(user_id="bench", tenant_id=TENANT)
    commands = [
        Command(UpdateProfile(user_id=f"user-{i % COMMAND_AGGREGATES}", name=f"Name {run}-{i}"), meta)
        for i in range(n)
    ]
    timer = Timer()
    for command in commands:
        await handler.handle(command)
    return timer.stop(n)


def raw_commands(ctx: Context, run: int) -> Sample:
    n, conn = ctx.mode.commands, ctx.raw()
    timer = Timer()
    for i in range(n):
        _raw_command(conn, f"user-{i % COMMAND_AGGREGATES}", f"Name {run}-{i}")
    return timer.stop(n)


def _raw_command(conn: Any, aggregate_id: str, name: str) -> None:
    rows: list[DictRow] = conn.execute(RAW_READ_STREAM, (TENANT, AGGREGATE_TYPE, aggregate_id, 0)).fetchall()
    state = fold_rows(rows)
    updates = state["updates"] if state else 0
    data = {**payload(updates + 1), "name": name}
    conn.execute(RAW_INSERT, raw_row(aggregate_id, len(rows) + 1, data))


def es_commands(ctx: Context, run: int) -> Sample:
    n, app, ids = ctx.mode.commands, ctx.es_app(), ctx.state["es_ids"]
    timer = Timer()
    for i in range(n):
        user: EsUser = app.repository.get(ids[i % COMMAND_AGGREGATES])
        user.update(**{**payload(user.updates + 1), "name": f"Name {run}-{i}"})
        app.save(user)
    return timer.stop(n)


# -- concurrent senders ----------------------------------------------------------------------------


def _mine(senders: int, k: int, i: int) -> str:
    """The aggregate of sender k's i-th command: its own users, round robin."""
    aggregates = max(COMMAND_AGGREGATES, senders)
    own = list(range(k, aggregates, senders))
    return f"user-{own[i % len(own)]}"


def _acci_concurrent(senders: int) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_sender[senders]
        handler = UpdateProfileHandler(await ctx.store(senders))
        meta = CommandMetadata(user_id="bench", tenant_id=TENANT)
        latencies: list[float] = []

        async def sender(k: int) -> None:
            for i in range(n):
                command = Command(
                    UpdateProfile(user_id=_mine(senders, k, i), name=f"Name {run}-{k}-{i}"), meta
                )
                started = time.perf_counter()
                await handler.handle(command)
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        await asyncio.gather(*(sender(k) for k in range(senders)))
        return timer.stop(n * senders, latencies)

    return measure


def _raw_concurrent(senders: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_sender[senders]
        latencies: list[float] = []
        # A connection per thread while there are enough, as a service with a thread per request
        # would hold; beyond MAX_CONNECTIONS, a connection from the pool for each command.
        per_command = senders > MAX_CONNECTIONS
        with ctx.raw_pool(min(senders, MAX_CONNECTIONS)) as pool:

            def sender(k: int) -> None:
                with ExitStack() as stack:
                    own = None if per_command else stack.enter_context(pool.connection())
                    for i in range(n):
                        started = time.perf_counter()
                        with pool.connection() if own is None else nullcontext(own) as conn:
                            _raw_command(conn, _mine(senders, k, i), f"Name {run}-{k}-{i}")
                        latencies.append(time.perf_counter() - started)

            timer = Timer()
            in_threads(senders, sender)
            return timer.stop(n * senders, latencies)

    return measure


def _es_concurrent(senders: int) -> Run:
    def measure(ctx: Context, run: int) -> Sample:
        n, app, ids = ctx.mode.per_sender[senders], ctx.es_app(senders), ctx.state["es_ids"]
        latencies: list[float] = []

        def sender(k: int) -> None:
            for i in range(n):
                started = time.perf_counter()
                user: EsUser = app.repository.get(ids[int(_mine(senders, k, i).split("-")[1])])
                user.update(**{**payload(user.updates + 1), "name": f"Name {run}-{k}-{i}"})
                app.save(user)
                latencies.append(time.perf_counter() - started)

        timer = Timer()
        in_threads(senders, sender)
        return timer.stop(n * senders, latencies)

    return measure


def concurrent_commands(senders: int, targets: tuple[Target, ...]) -> Workload:
    return Workload(
        name=f"commands-{senders}",
        title=f"command, {senders} concurrent senders",
        unit="commands/s",
        setup=lambda ctx: setup(ctx, max(COMMAND_AGGREGATES, senders)),
        variants=[
            Variant(
                "acci", f"ACCI CommandHandler.handle, {senders} asyncio tasks", _acci_concurrent(senders)
            ),
            Variant("raw", f"raw SELECT + fold + INSERT, {senders} threads", _raw_concurrent(senders)),
            Variant("es", f"es get + method + save, {senders} threads", _es_concurrent(senders)),
        ],
        targets=targets,
    )


WORKLOADS = [
    Workload(
        name="commands",
        title="command: load, decide, append",
        unit="commands/s",
        setup=setup,
        variants=[
            Variant("acci", "ACCI CommandHandler.handle", acci_commands),
            Variant("raw", "raw SELECT stream + fold + INSERT", raw_commands),
            Variant("es", "es repository.get + method + save", es_commands),
        ],
        targets=(Target("raw", 0.8),),
    ),
    concurrent_commands(8, (Target("raw", 1.0),)),
    concurrent_commands(32, ()),
    concurrent_commands(128, ()),
]
