"""Policies in a service: `run` keeps them live with their deadlines, and the command line shows
their status, replays their dead letters and lists and retries their deadlines."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

import pytest
from acci import Command, CommandData, CommandMetadata, PostgresEventStore, StreamId
from acci.cli import main
from acci.policies import DeadlineRunner, ManualClock, list_deadlines, policy_runner
from acci.projections import RunnerSettings
from acci.run import run_service
from acci.settings import load_settings

from tests.runtime.shop import (
    HANDLERS,
    SERVICE,
    AddStock,
    OpenWarehouse,
    PlaceOrder,
    ReleaseReservation,
    StrictFulfilment,
)

APP = "tests.runtime.shop:SERVICE"
META = CommandMetadata(user_id="clerk", tenant_id="t")


def shop(url: str, *commands: CommandData) -> None:
    async def send() -> None:
        async with await PostgresEventStore.open(url) as store:
            for data in commands:
                await HANDLERS[type(data)](store).handle(Command(data, META))

    asyncio.run(send())


def order(name: str, quantity: int) -> PlaceOrder:
    return PlaceOrder(order_id=name, warehouse_id="north", sku="TEA", quantity=quantity)


async def test_run_keeps_the_policies_live(acci_database_url: str) -> None:
    settings = load_settings(monitoring={"enabled": False}, projections={"poll_interval": 0.05})
    service = asyncio.create_task(run_service(SERVICE, settings, acci_database_url))
    async with await PostgresEventStore.open(acci_database_url) as store:
        for data in (
            OpenWarehouse(warehouse_id="north"),
            AddStock(warehouse_id="north", sku="TEA", quantity=5),
        ):
            await HANDLERS[type(data)](store).handle(Command(data, META))
        await HANDLERS[PlaceOrder](store).handle(Command(order("o1", 2), META))
        for _ in range(400):
            stock = await store.read_stream(StreamId("t", "Warehouse", "north"))
            if sum(e.event_type == "StockReserved" for e in stock) == 2:  # by both policies
                break
            await asyncio.sleep(0.025)
        else:
            raise AssertionError("the policies did not reserve the stock")
    os.kill(os.getpid(), signal.SIGTERM)  # run_service stops on it, gracefully
    assert await asyncio.wait_for(service, 30) == 0


def test_the_command_line_operates_policies_and_deadlines(
    acci_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--url", acci_database_url, "--app", APP]
    shop(acci_database_url, OpenWarehouse(warehouse_id="north"), order("o1", 3))
    assert main([*args, "projections", "status"]) == 0
    status = capsys.readouterr().out
    assert "fulfilment" in status and "strict_fulfilment" in status

    async def handle() -> None:
        async with await PostgresEventStore.open(acci_database_url) as store:
            await policy_runner(store, StrictFulfilment(), RunnerSettings(max_attempts=1)).catch_up()
            await HANDLERS[AddStock](store).handle(
                Command(AddStock(warehouse_id="north", sku="TEA", quantity=5), META)
            )

    asyncio.run(handle())
    assert main([*args, "dead-letters", "list"]) == 0
    assert "strict_fulfilment" in capsys.readouterr().out
    assert main([*args, "dead-letters", "replay", "strict_fulfilment"]) == 0
    assert "strict_fulfilment: 1 replayed, 0 still failing" in capsys.readouterr().out

    assert main([*args, "deadlines", "list"]) == 0
    listed = capsys.readouterr().out
    assert "strict_fulfilment" in listed and "release" in listed and "pending" in listed

    async def release_too_late() -> None:
        async with await PostgresEventStore.open(acci_database_url) as store:
            await HANDLERS[ReleaseReservation](store).handle(
                Command(ReleaseReservation(warehouse_id="north", order_id="o1"), META)
            )
            [deadline] = await list_deadlines(store, "strict_fulfilment")
            clock = ManualClock(deadline.due_at + timedelta(seconds=1))
            assert await DeadlineRunner(store, [StrictFulfilment()], clock=clock).fire_due() == 1

    asyncio.run(release_too_late())
    assert main([*args, "deadlines", "list", "strict_fulfilment"]) == 0
    listed = capsys.readouterr().out
    assert "failed" in listed and "no reservation for order o1" in listed
    assert main([*args, "deadlines", "retry", "strict_fulfilment"]) == 0
    assert "strict_fulfilment: 1 failed deadline(s) pending again" in capsys.readouterr().out
    assert main([*args, "deadlines", "retry", "nothing"]) == 2
    assert "has no policy 'nothing'; it has: fulfilment, strict_fulfilment" in capsys.readouterr().err
