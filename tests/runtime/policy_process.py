"""The process of the policy kill test (test_policy_kill.py): runs the Fulfilment policy live, in
small batches, until killed. Prints "running" once its store is open."""

from __future__ import annotations

import asyncio
import sys

from acci import PostgresEventStore
from acci.policies import policy_runner
from acci.projections import RunnerSettings

from tests.runtime.shop import Fulfilment

SETTINGS = RunnerSettings(batch_size=4, poll_interval=0.05, takeover_interval=0.05, retry_delay=0.01)


async def _main(url: str) -> None:
    async with await PostgresEventStore.open(url, max_size=4) as store:
        print("running", flush=True)
        await policy_runner(store, Fulfilment(), SETTINGS).run()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))
