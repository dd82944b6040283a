"""The writer process of the kill test (test_writer_kill.py): many tasks appending at once to a few
streams through one coalescing store, with expected versions (so, conflicts), until killed. Each
append's outcome is printed as soon as the call returns: "ok <event id>" or "err <event id>".

With a second argument, the tenant databases as JSON ({"b": url, "c": url}), it writes to
ROUTED_STREAMS through a TenantRouter instead: three tenants, one per database."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import uuid

from acci import ConcurrencyError, EventStore, NewEvent, PostgresEventStore, StreamId
from acci.settings import load_settings
from acci.tenants import TenantRouter

STREAMS = [StreamId("t", "Kill", f"k{i}") for i in range(8)]
#: The routed writer's tenants, and the database each is routed to.
ROUTES = {"t0": "default", "t1": "b", "t2": "c"}
ROUTED_STREAMS = [StreamId(f"t{i % 3}", "Kill", f"k{i}") for i in range(9)]


async def _writer(store: EventStore, rng: random.Random, streams: list[StreamId]) -> None:
    known = dict.fromkeys(streams, 0)
    while True:
        stream = rng.choice(streams)
        new = NewEvent({"n": rng.randrange(1000)}, event_type="Written", event_id=uuid.uuid4())
        try:
            (recorded,) = await store.append(stream, [new], known[stream])
            known[stream] = recorded.version
            print("ok", new.event_id, flush=True)
        except ConcurrencyError as error:
            known[stream] = error.actual
            print("err", new.event_id, flush=True)


async def _main(url: str) -> None:
    async with await PostgresEventStore.open(url, max_size=4) as store:
        await asyncio.gather(*(_writer(store, random.Random(k), STREAMS) for k in range(32)))


async def _main_routed(url: str, databases: dict[str, str]) -> None:
    settings = load_settings(
        database={"pool_max_size": 4}, tenants={"databases": databases, "routes": ROUTES}
    )
    async with await TenantRouter.open(settings, url) as router:
        await asyncio.gather(
            *(_writer(router.event_store, random.Random(k), ROUTED_STREAMS) for k in range(32))
        )


if __name__ == "__main__":
    if len(sys.argv) > 2:
        asyncio.run(_main_routed(sys.argv[1], json.loads(sys.argv[2])))
    else:
        asyncio.run(_main(sys.argv[1]))
