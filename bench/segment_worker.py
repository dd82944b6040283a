"""A worker process of the segments-catchup workload: `python -m bench.segment_worker URL INDEX COUNT`.

Connects, says "ready", waits for a line on stdin, catches up its segment of the projection and
prints "done CPU N" (its CPU seconds while catching up, the events it handled)."""

from __future__ import annotations

import asyncio
import sys
import time

from acci import PostgresEventStore
from acci.projections import ProjectionRunner, RunnerSettings
from acci.projections._segments import Segment

from bench.settings import PAGE_SIZE
from bench.workloads.segments import NAME, SegView


async def main(url: str, index: int, count: int) -> None:
    async with await PostgresEventStore.open(url, min_size=1, max_size=2) as store:
        runner = ProjectionRunner(
            store, SegView(), RunnerSettings(batch_size=PAGE_SIZE), segment=Segment(NAME, index, count)
        )
        async with store.pool.connection() as conn:
            await conn.execute("SELECT 1")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        cpu = time.process_time()
        handled = await runner.catch_up()
        print(f"done {time.process_time() - cpu:.3f} {handled}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
