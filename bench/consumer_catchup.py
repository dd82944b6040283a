"""Integration consumer throughput: a backlog of messages caught up, by the number of lanes.

    python -m bench.consumer_catchup [--messages 10000] [--lanes 1,16,64] [--runs 3]

The publishing side writes `--messages` OrderPlaced events (one new order stream each) and relays
them to a JetStream stream before any clock starts. Then, for each lane count and run, a consumer
with a durable consumer and a database of its own (bench/integration_model.py: one OpenAccount
command per message, each opening a new account) catches the backlog up: fetches of 100, the
lanes' loads and appends coalesced. Printed: commands/s and the consumer process's CPU per
message, each lane count in turn within every run (so a slow moment of the machine hits them
all). Needs NATS (ACCI_NATS_URL) and PostgreSQL (ACCI_DATABASE_URL, else an embedded one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid

from acci import NewEvent, PostgresEventStore, StreamId
from acci.database import database_url
from acci.integration import ConsumerSettings, IntegrationConsumer, IntegrationRelay, IntegrationSettings
from acci.integration.jetstream import NatsTransport
from acci.integration.naming import stream_name_for

from bench.db import fresh_database
from bench.integration_model import REGISTRY, consumes, order, publisher

_WRITERS = 8


def _settings(lanes: int) -> IntegrationSettings:
    # A fetch that finds the backlog returns at once; 0.2 s only bounds the wait at its end.
    return IntegrationSettings(consumer=ConsumerSettings(lanes=lanes, poll_interval=0.2))


async def _backlog(url: str, domain: str, messages: int, transport: NatsTransport) -> None:
    async with await PostgresEventStore.open(url, max_size=_WRITERS + 2) as store:

        async def writer(first: int) -> None:
            for n in range(first, messages, _WRITERS):
                await store.append(StreamId("bench", "Order", f"order-{n}"), [NewEvent.of(order(n))])

        await asyncio.gather(*(writer(w) for w in range(_WRITERS)))
        relay = IntegrationRelay(store, transport, publisher(domain), REGISTRY, _settings(1))
        await relay.start()
        if await relay.catch_up() != messages:
            raise RuntimeError("the relay did not publish every event")


async def _catch_up(
    url: str, domain: str, lanes: int, transport: NatsTransport, run: int
) -> tuple[float, float]:
    """(commands/s, CPU seconds per message) of one consumer catching the whole stream up."""
    async with await PostgresEventStore.open(url, max_size=8) as store:
        consumer = IntegrationConsumer(
            store, transport, consumes(domain), _settings(lanes), name=f"billing_{lanes}_{run}"
        )
        started, cpu = time.perf_counter(), time.process_time()
        handled = await consumer.catch_up()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return handled / wall, cpu / handled


async def _main(
    orders: str, billing: dict[tuple[int, int], str], messages: int, lane_counts: list[int], runs: int
) -> None:
    domain = f"catchup_{uuid.uuid4().hex[:8]}"
    transport = await NatsTransport.connect(_settings(1).nats)
    results: dict[int, list[tuple[float, float]]] = {lanes: [] for lanes in lane_counts}
    try:
        await _backlog(orders, domain, messages, transport)
        for run in range(runs):
            for lanes in lane_counts:
                results[lanes].append(await _catch_up(billing[lanes, run], domain, lanes, transport, run))
        print(f"integration consumer catching up {messages:,} messages (one command each), {runs} run(s):")
        for lanes, samples in results.items():
            rates = ", ".join(f"{rate:,.0f}" for rate, _ in samples)
            cpu = statistics.median(per for _, per in samples) * 1e6
            print(f"  {lanes:3d} lane(s): {rates} commands/s; {cpu:.0f} µs of the consumer's CPU per message")
    finally:
        with contextlib.suppress(Exception):  # gone already when the setup failed early
            await transport.js.delete_stream(stream_name_for(domain))
        await transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--lanes", default="1,16,64", help="lane counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lane_counts = [int(n) for n in args.lanes.split(",")]
    name = f"acci_bench_{os.getpid()}"
    with database_url() as server, contextlib.ExitStack() as databases:
        # Made before the loop runs (fresh_database migrates with asyncio.run): one per sample.
        orders = databases.enter_context(fresh_database(server, f"{name}_orders"))
        billing = {
            (lanes, run): databases.enter_context(fresh_database(server, f"{name}_billing_{lanes}_{run}"))
            for run in range(args.runs)
            for lanes in lane_counts
        }
        asyncio.run(_main(orders, billing, args.messages, lane_counts, args.runs))


if __name__ == "__main__":
    main()
