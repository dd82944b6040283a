"""End to end with the generated example domains as two services, each with its own database and
process: ordering publishes (`relay`), billing consumes (`consume`), through a nats-server of the
test's own. A command in the first leads to events in the second, once each, and both processes
stop cleanly on SIGTERM.

The processes are the operator's command line (`python -m acci.cli --app <domain>.service:service
relay|consume`), what a scaffolded service's `python -m <service>` runs with its Service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from acci import Command, CommandMetadata, PostgresEventStore
from acci.migrations import migrate, runtime_migrations
from billing.service import service as billing_service
from ordering.commands import AddOrderLine, CancelOrder, OpenOrder, PlaceOrder
from ordering.events import Address
from ordering.handlers import handle
from ordering.service import service as ordering_service

from tests.runtime.integration.helpers import bounded, eventually
from tests.runtime.integration.test_faults import NatsServer, own_nats

pytestmark = [pytest.mark.nats, pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
TENANT = "acme"
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
ADDRESS = Address(street="Unter den Linden 1", city="Berlin", postal_code="10117", country="DE")

__all__ = ["own_nats"]  # the fixture, used by name


class Process:
    """`python -m acci.cli --app <app> <args>` with its own database and the test's NATS."""

    def __init__(self, app: str, url: str, nats_url: str, *args: str) -> None:
        env = dict(os.environ)
        env.update(
            ACCI_DATABASE_URL=url,
            ACCI_NATS_URL=nats_url,
            ACCI_MONITORING__ENABLED="false",
            PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "generated")]),
        )
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "acci.cli", "--app", app, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> tuple[int, str]:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            _, err = self.popen.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            _, err = self.popen.communicate()
        return self.popen.returncode, err


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


async def order(store: PostgresEventStore, lines: int, correlation: str) -> uuid.UUID:
    """Open an order, add `lines` lines (4.50 each) and place it; its id."""
    order_id = uuid.uuid4()
    meta = CommandMetadata("clerk", TENANT, correlation_id=correlation, timestamp=datetime.now(UTC))
    await handle(store, Command(OpenOrder(order_id=order_id, customer_id=CUSTOMER), meta))
    for _ in range(lines):
        line = AddOrderLine(order_id=order_id, sku="TEA-0001", quantity=1, unit_price=Decimal("4.50"))
        await handle(store, Command(line, meta))
    await handle(store, Command(PlaceOrder(order_id=order_id, shipping_address=ADDRESS), meta))
    return order_id


async def invoices(store: PostgresEventStore) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Billing's events by invoice id, in order."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT aggregate_id, event_type, data FROM acci.events WHERE tenant_id = %s "
            "ORDER BY aggregate_id, version",
            (TENANT,),
        )
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for aggregate_id, event_type, data in await cur.fetchall():
            payload = data if isinstance(data, dict) else json.loads(data)
            found.setdefault(aggregate_id, []).append((event_type, payload))
    return found


async def test_a_command_in_ordering_leads_to_events_in_billing(
    acci_database_url: str, billing_database_url: str, own_nats: NatsServer, processes: list[Process]
) -> None:
    await own_nats.ready()
    await migrate(acci_database_url, runtime_migrations() + list(ordering_service.migrations))
    await migrate(billing_database_url, runtime_migrations() + list(billing_service.migrations))
    relay = Process("ordering.service:service", acci_database_url, own_nats.url, "relay")
    consumer = Process("billing.service:service", billing_database_url, own_nats.url, "consume")
    processes += [relay, consumer]

    async with await PostgresEventStore.open(
        acci_database_url, projections=ordering_service.projections
    ) as orders:
        placed = {
            await order(orders, 2, "corr-1"): Decimal("9.00"),
            await order(orders, 1, "corr-2"): Decimal("4.50"),
        }
        cancelled = await order(orders, 1, "corr-3")
        meta = CommandMetadata("clerk", TENANT)
        await handle(orders, Command(CancelOrder(order_id=cancelled, reason="changed my mind"), meta))
        placed[cancelled] = Decimal("4.50")

    async with await PostgresEventStore.open(billing_database_url) as billing:

        async def all_invoiced() -> bool:
            return len(await invoices(billing)) == len(placed)

        await bounded(eventually(all_invoiced, 60, "an invoice per placed order"), 70)
        found = await invoices(billing)
    for order_id, total in placed.items():
        events = found[str(order_id)]
        assert [name for name, _ in events] == ["InvoiceOpened"]  # once: no redelivery took effect twice
        data = events[0][1]
        assert data["order_id"] == str(order_id)
        assert Decimal(data["amount"]) == total
        assert data["opened_by"] in ("corr-1", "corr-2", "corr-3")  # the envelope's correlation id
    for process in (relay, consumer):
        code, err = process.stop()
        assert code == 0, err
        assert "Traceback" not in err
