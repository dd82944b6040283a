"""End-to-end latency of integration events: commit in one service -> effect in another.

    python -m bench.relay_latency [--rate 1000] [--seconds 10] [--over-time]

The publishing side (this process) appends one OrderPlaced per transaction at `--rate` events/s
(paced) and runs an IntegrationRelay live (woken by NOTIFY); the consuming side (a process of its
own, like a separate service) runs an IntegrationConsumer that opens one account per order in its
own database with a command. The latency of an event is the consumer's event timestamp minus the
publisher's (both `clock_timestamp()` of one PostgreSQL server, so one clock): commit, relay,
JetStream, consumer, command. The first second is warm-up and not counted. Needs NATS
(ACCI_NATS_URL) and PostgreSQL (ACCI_DATABASE_URL, else an embedded one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

from acci import NewEvent, PostgresEventStore, StreamId
from acci._gcpause import freeze_startup_objects
from acci.database import database_url
from acci.integration import (
    ConsumerSettings,
    IntegrationConsumer,
    IntegrationRelay,
    IntegrationSettings,
    RelaySettings,
)
from acci.integration.jetstream import NatsTransport

from bench.db import fresh_database
from bench.integration_model import REGISTRY, consumes, order, publisher

ROOT = Path(__file__).resolve().parent.parent
_WRITERS = 8


def _settings() -> IntegrationSettings:
    # A fetch waits until its batch is full or poll_interval passed: short, so that a batch goes
    # as soon as a few messages are there (see ConsumerSettings.poll_interval).
    return IntegrationSettings(
        relay=RelaySettings(poll_interval=0.05), consumer=ConsumerSettings(poll_interval=0.02)
    )


async def _consume(url: str, domain: str, seconds: float) -> None:
    # The lanes share a few connections: their loads and appends are coalesced (docs/runtime.md).
    store = await PostgresEventStore.open(url, max_size=8)
    transport = await NatsTransport.connect(_settings().nats)
    consumer = IntegrationConsumer(store, transport, consumes(domain), _settings(), name="billing")
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    freeze_startup_objects()  # as `python -m <service> consume` does
    await consumer.run(stop)
    await transport.close()
    await store.close()


async def _publish(
    orders_url: str, billing_url: str, domain: str, rate: float, seconds: float, over_time: bool
) -> None:
    store = await PostgresEventStore.open(orders_url, max_size=_WRITERS + 2)
    transport = await NatsTransport.connect(_settings().nats)
    relay = IntegrationRelay(store, transport, publisher(domain), REGISTRY, _settings())
    await relay.start()
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.relay_latency",
        "--consume",
        billing_url,
        domain,
        str(seconds + 60),  # stopped (SIGTERM) as soon as every effect is there
        cwd=ROOT,
    )
    stop = asyncio.Event()
    freeze_startup_objects()  # as `python -m <service> relay` does
    relaying = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(2.0)  # the consumer process starts
    started = time.perf_counter()
    total = int(rate * seconds)

    async def writer(first: int) -> None:
        # Several writers, each paced on its share of the schedule: one writer alone cannot
        # commit 1,000 transactions/s on a loaded machine, and that would measure the writer.
        for n in range(first, total, _WRITERS):
            ahead = started + n / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
            await store.append(StreamId("bench", "Order", f"order-{n}"), [NewEvent.of(order(n))])

    await asyncio.gather(*(writer(w) for w in range(_WRITERS)))
    achieved = total / (time.perf_counter() - started)
    billing = await PostgresEventStore.open(billing_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with billing.pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM acci.events")).fetchone()
        if row and row[0] >= total:
            break
        await asyncio.sleep(0.2)
    stop.set()
    await relaying
    if consumer.returncode is None:  # it stops by itself after its time; it may be gone already
        consumer.terminate()
    await asyncio.wait_for(consumer.wait(), 10)
    async with store.pool.connection() as conn:
        cur = await conn.execute('SELECT aggregate_id, "timestamp" FROM acci.events')
        committed: dict[str, datetime] = dict(await cur.fetchall())
    async with billing.pool.connection() as conn:
        cur = await conn.execute('SELECT aggregate_id, "timestamp" FROM acci.events')
        effected: dict[str, datetime] = dict(await cur.fetchall())
    first = min(committed.values())
    latencies = sorted(
        (effected[key] - at).total_seconds() * 1000
        for key, at in committed.items()
        if key in effected and (at - first).total_seconds() >= 1.0
    )
    missing = len(committed) - len(effected)
    if over_time:  # p50 and max per quarter second of commits: a backlog shows as a rising line
        quarters: dict[int, list[float]] = {}
        for key, at in committed.items():
            if key in effected:
                latency = (effected[key] - at).total_seconds() * 1000
                quarters.setdefault(int((at - first).total_seconds() * 4), []).append(latency)
        for quarter, values in sorted(quarters.items()):
            values.sort()
            p50, most = values[len(values) // 2], values[-1]
            print(f"  {quarter / 4:5.2f} s  {len(values):4d} events  p50 {p50:7.1f} ms  max {most:7.1f} ms")
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"relay latency, commit -> consumer effect, {achieved:,.0f} events/s for {seconds:g}s "
        f"({len(latencies):,} events counted, {missing} without effect):\n"
        f"  p50 {quantiles[49]:.1f} ms   p99 {quantiles[98]:.1f} ms   max {latencies[-1]:.1f} ms   "
        f"(target: p99 < 100 ms at 1,000 events/s)"
    )
    await transport.js.delete_stream(relay.stream.name)
    await transport.close()
    await billing.close()
    await store.close()


def main() -> None:
    if sys.argv[1:2] == ["--consume"]:
        url, domain, seconds = sys.argv[2:5]
        asyncio.run(_consume(url, domain, float(seconds)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--over-time", action="store_true", help="latency per quarter second")
    args = parser.parse_args()
    domain = f"latency_{uuid.uuid4().hex[:8]}"
    with database_url() as server:
        name = f"acci_bench_{os.getpid()}"
        with (
            fresh_database(server, f"{name}_orders") as orders,
            fresh_database(server, f"{name}_billing") as billing,
        ):
            asyncio.run(_publish(orders, billing, domain, args.rate, args.seconds, args.over_time))


if __name__ == "__main__":
    main()
