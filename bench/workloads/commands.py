"""Commands: load, decide, append, one after another, round robin over 100 existing users."""

from __future__ import annotations

from acci import Command, CommandMetadata

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
from bench.runner import Sample, Timer, Variant, Workload
from bench.settings import COMMAND_AGGREGATES
from bench.workloads.common import RAW_INSERT, RAW_READ_STREAM, acci_fill, raw_fill, raw_row


def setup(ctx: Context) -> None:
    for k in range(COMMAND_AGGREGATES):
        ctx.runner.run(acci_fill(ctx, f"user-{k}", 1))
        raw_fill(ctx, f"user-{k}", 1)
    app = ctx.es_app()
    users = [es_user(1, k) for k in range(COMMAND_AGGREGATES)]
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
        aggregate_id = f"user-{i % COMMAND_AGGREGATES}"
        rows = conn.execute(RAW_READ_STREAM, (TENANT, AGGREGATE_TYPE, aggregate_id, 0)).fetchall()
        state = fold_rows(rows)
        updates = state["updates"] if state else 0
        data = {**payload(updates + 1), "name": f"Name {run}-{i}"}
        conn.execute(RAW_INSERT, raw_row(aggregate_id, len(rows) + 1, data))
    return timer.stop(n)


def es_commands(ctx: Context, run: int) -> Sample:
    n, app, ids = ctx.mode.commands, ctx.es_app(), ctx.state["es_ids"]
    timer = Timer()
    for i in range(n):
        user: EsUser = app.repository.get(ids[i % COMMAND_AGGREGATES])
        user.update(**{**payload(user.updates + 1), "name": f"Name {run}-{i}"})
        app.save(user)
    return timer.stop(n)


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
    )
]
