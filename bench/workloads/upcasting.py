"""Reading events stored at an old schema version: 10,000 OrderPlaced events stored at v1 (as the first
release wrote them: amount, a flat address with zip, channel) and the same 10,000 orders stored at
the current v3, each stream read with `read_stream` and decoded with the ordering domain's
`REGISTRY.decode_all` (`decode` for each event, the cyclic GC paused, as ACCI's typed reads do) into
the current OrderPlaced class; v1 events go through both upcasters on the way (the declarative
v1 -> v2 and the hand-written v2 -> v3). Each sample reads its stream three times.

There is no raw side: the comparison is reading old events against reading current ones, the
current ones shown in the raw column.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from acci import NewEvent, RecordedEvent, StreamId
from ordering.events import OrderPlaced  # type: ignore[import-not-found, unused-ignore]
from ordering.registry import REGISTRY  # type: ignore[import-not-found, unused-ignore]

from bench.context import Context
from bench.runner import Run, Sample, Target, Timer, Variant, Workload
from bench.settings import UPCAST_EVENTS
from bench.workloads.common import chunks

_TENANT = "bench"
_STREAMS = {1: StreamId(_TENANT, "Order", "orders-v1"), 3: StreamId(_TENANT, "Order", "orders-v3")}
_CITIES = (
    ("Unter den Linden 1", "Berlin", "10117", "DE"),
    ("Marienplatz 8", "München", "80331", "DE"),
    ("Rue de Rivoli 99", "Paris", "75001", "FR"),
    ("Kalverstraat 12", "Amsterdam", "1012 NX", "NL"),
    ("Via del Corso 300", "Roma", "00186", "IT"),
)
_EPOCH = datetime(2024, 3, 1, 10, tzinfo=UTC)


def v1_payload(i: int) -> dict[str, Any]:
    """Order number `i` as OrderPlaced v1 stored it."""
    street, city, zip_code, country = _CITIES[i % len(_CITIES)]
    data: dict[str, Any] = {
        "order_id": str(uuid.UUID(int=(0x6F1C2B7E << 96) + i)),
        "amount": str(Decimal(1250 + i * 37 % 90_000) / 100),
        "placed_at": (_EPOCH + timedelta(minutes=i)).isoformat(),
        "street": street,
        "city": city,
        "zip": zip_code,
        "country": country,
    }
    if i % 4:  # optional in v1
        data["channel"] = ("web", "app", "phone")[i % 3]
    return data


def setup(ctx: Context) -> None:
    v1 = [v1_payload(i) for i in range(UPCAST_EVENTS)]
    old = [NewEvent(data, event_type="OrderPlaced", schema_version=1) for data in v1]
    # The same orders at the current version: the upcasters' output, validated by the current class.
    current = [NewEvent.of(OrderPlaced.model_validate(REGISTRY.upcast("OrderPlaced", 1, d))) for d in v1]

    async def write() -> None:
        store = await ctx.store()
        for version, events in ((1, old), (3, current)):
            done = 0
            for part in chunks(events, 5_000):
                await store.append(_STREAMS[version], list(part), done)
                done += len(part)
        # Both streams decode to the same events.
        first = [await store.read_stream(_STREAMS[v], to_version=3) for v in (1, 3)]
        if [REGISTRY.decode(e) for e in first[0]] != [REGISTRY.decode(e) for e in first[1]]:
            raise RuntimeError("upcast-read: v1 and v3 events decode differently")

    ctx.runner.run(write())


#: Reads of the stream per sample: one read takes about 0.1 s, too short to time alone on a busy machine.
_READS = 3


def _read(version: int, *, decode: bool = True) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        store = await ctx.store()
        count = 0
        timer = Timer()
        for _ in range(_READS):
            events = await store.read_stream(_STREAMS[version])
            decoded = REGISTRY.decode_all(events) if decode else events
            count += len(decoded)
        sample = timer.stop(count)
        if count != _READS * UPCAST_EVENTS:
            raise RuntimeError(f"upcast-read: read {count:,} events, expected {_READS * UPCAST_EVENTS:,}")
        return sample

    return measure


def _decode_only(version: int) -> Run:
    """Decoding events read beforehand (the upcasters and validation alone, no database)."""

    async def measure(ctx: Context, run: int) -> Sample:
        store = await ctx.store()
        key = f"read-{version}"
        if key not in ctx.state:
            ctx.state[key] = await store.read_stream(_STREAMS[version])
        events: list[RecordedEvent] = ctx.state[key]
        count = 0
        timer = Timer()
        for _ in range(_READS):
            count += len(REGISTRY.decode_all(events))
        return timer.stop(count)

    return measure


WORKLOADS = [
    Workload(
        name="upcast-read",
        title="read 10,000 OrderPlaced stored at v1, upcast to v3",
        raw_means="not raw psycopg but ACCI reading the same orders stored at v3, the current version",
        setup=setup,
        variants=[
            Variant("acci", "ACCI read_stream + REGISTRY.decode_all, stored at v1 (2 upcasts)", _read(1)),
            Variant("acci", "ACCI REGISTRY.decode_all only, stored at v1 (no database)", _decode_only(1)),
            Variant("acci", "ACCI read_stream only, stored at v1", _read(1, decode=False)),
            Variant("raw", "ACCI read_stream + REGISTRY.decode_all, stored at v3 (current)", _read(3)),
            Variant("raw", "ACCI REGISTRY.decode_all only, stored at v3 (no database)", _decode_only(3)),
        ],
        targets=(Target("raw", 0.9),),
    )
]
