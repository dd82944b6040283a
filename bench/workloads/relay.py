"""Relay throughput: RELAY_EVENTS OrderPlaced events (one new order stream each, in the log before
the sample) published to NATS JetStream and acknowledged.

ACCI's IntegrationRelay reads them from the log in pages of 500 below the horizon, decodes each,
maps it to its public event, publishes the page in windows of 500
(reading the next page meanwhile; plain publishes whose acknowledgements come back to one inbox,
Nats-Msg-Id = the event id), waits for every acknowledgement and moves its checkpoint. The raw side is plain
nats-py in the same process: the same messages (subjects, payloads, headers, built before the
clock starts) published with `publish_async` in windows of 500, waiting for the acknowledgements.
Each sample publishes into a new stream (created before the clock starts, deleted after), on the
NATS server of ACCI_NATS_URL (default nats://127.0.0.1:4222).
"""

from __future__ import annotations

import asyncio
import uuid

from acci import START, NewEvent, StreamId
from acci.integration import IntegrationRelay, IntegrationSettings, NatsSettings, OutgoingMessage
from acci.integration.jetstream import NatsTransport

from bench.context import Context
from bench.integration_model import REGISTRY, order, publisher
from bench.runner import Sample, Target, Timer, Variant, Workload
from bench.settings import PAGE_SIZE

RELAY_EVENTS = 20_000
_SETUP_WRITERS = 8


def _setup(ctx: Context) -> None:
    async def write() -> None:
        store = await ctx.store(_SETUP_WRITERS)

        async def writer(first: int) -> None:
            for n in range(first, RELAY_EVENTS, _SETUP_WRITERS):
                stream = StreamId("bench", "Order", f"order-{n}")
                await store.append(stream, [NewEvent.of(order(n))])

        await asyncio.gather(*(writer(w) for w in range(_SETUP_WRITERS)))

    ctx.runner.run(write())


def _settings() -> IntegrationSettings:
    return IntegrationSettings(nats=NatsSettings(publish_timeout=30.0))


async def _relay(ctx: Context, run: int) -> Sample:
    store = await ctx.store(2)  # the relay reads the next page while it moves the checkpoint
    transport = await NatsTransport.connect(_settings().nats)
    relay = IntegrationRelay(
        store, transport, publisher(f"bench_{uuid.uuid4().hex[:10]}"), REGISTRY, _settings()
    )
    await relay.start()
    try:
        timer = Timer()
        read = await relay.catch_up()
        sample = timer.stop(read)
        published = (await transport.js.stream_info(relay.stream.name)).state.messages
        if published != RELAY_EVENTS or read != RELAY_EVENTS:
            raise RuntimeError(f"the relay read {read} and the stream holds {published}, not {RELAY_EVENTS}")
        return sample
    finally:
        await transport.js.delete_stream(relay.stream.name)
        await transport.close()


async def _plain(ctx: Context, run: int) -> Sample:
    store = await ctx.store(2)
    transport = await NatsTransport.connect(_settings().nats)
    relay = IntegrationRelay(
        store, transport, publisher(f"bench_{uuid.uuid4().hex[:10]}"), REGISTRY, _settings()
    )
    await relay.start()
    # The same messages the relay publishes, built before the clock starts.
    messages: list[OutgoingMessage] = []
    after = START
    while events := await store.read_all(after, limit=PAGE_SIZE):
        messages.extend(m for m in (relay.message_for(e) for e in events) if m is not None)
        after = events[-1].position
    js = transport.js
    try:
        timer = Timer()
        for start in range(0, len(messages), PAGE_SIZE):
            futures = [
                await js.publish_async(
                    m.subject,
                    m.data,
                    stream=relay.stream.name,
                    headers={**m.headers, "Nats-Msg-Id": m.message_id},
                )
                for m in messages[start : start + PAGE_SIZE]
            ]
            await asyncio.gather(*futures)
        sample = timer.stop(len(messages))
        if (await js.stream_info(relay.stream.name)).state.messages != RELAY_EVENTS:
            raise RuntimeError("plain nats-py did not store every message")
        return sample
    finally:
        await js.delete_stream(relay.stream.name)
        await transport.close()


WORKLOADS = [
    Workload(
        "relay-throughput",
        f"relay {RELAY_EVENTS:,} events from the log to JetStream, acked",
        [
            Variant("acci", "ACCI IntegrationRelay.catch_up", _relay),
            Variant("raw", "plain nats-py publish_async, windows of 500", _plain),
        ],
        setup=_setup,
        targets=(Target("raw", 0.8),),
        raw_means="plain nats-py publishing the same messages (built beforehand) with acks, same process",
    )
]
