"""The writer process of the kill test (test_writer_kill.py): many tasks appending at once to a few
streams through one coalescing store, with expected versions (so, conflicts), until killed. Each
append's outcome is printed as soon as the call returns: "ok <event id>" or "err <event id>"."""

from __future__ import annotations

import asyncio
import random
import sys
import uuid

from acci import ConcurrencyError, NewEvent, PostgresEventStore, StreamId

STREAMS = [StreamId("t", "Kill", f"k{i}") for i in range(8)]


async def _writer(store: PostgresEventStore, rng: random.Random) -> None:
    known = dict.fromkeys(STREAMS, 0)
    while True:
        stream = rng.choice(STREAMS)
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
        await asyncio.gather(*(_writer(store, random.Random(k)) for k in range(32)))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))
