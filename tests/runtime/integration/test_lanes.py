"""The consumer's lanes without a broker: overlapping batches keep each lane's order, a failed lane
abandons its later messages only, and the blocked origins survive a refresh that races a park."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from acci.integration.envelope import AGGREGATE_ID, AGGREGATE_TYPE, TENANT_ID
from acci.integration.lanes import BlockedOrigins, LanePipeline, lanes_of
from acci.integration.transport import IncomingMessage


class Message(IncomingMessage):
    def __init__(self, origin: str, n: int) -> None:
        self.subject = "s"
        self.data = b"{}"
        self.headers = {TENANT_ID: "t", AGGREGATE_TYPE: "Order", AGGREGATE_ID: origin}
        self.message_id = f"{origin}-{n}"
        self.sequence = n
        self.deliveries = 1

    async def ack(self) -> None:
        return None

    async def in_progress(self) -> None:
        return None


def _two_lanes() -> tuple[str, str]:
    """Two origins that land in different lanes of two."""
    origins = [f"o{i}" for i in range(10)]
    first = lanes_of([Message(o, 0) for o in origins], 2)
    return first[0][0].headers[AGGREGATE_ID], first[1][0].headers[AGGREGATE_ID]


async def test_a_lane_of_the_next_batch_starts_when_its_own_lane_is_done() -> None:
    slow, fast = _two_lanes()
    release = asyncio.Event()
    handled: list[str] = []

    async def handle(messages: Sequence[IncomingMessage]) -> None:
        for message in messages:
            if message.message_id == f"{slow}-1":
                await release.wait()
            handled.append(message.message_id)

    pipeline = LanePipeline(2, handle)
    await pipeline.submit([Message(slow, 1), Message(fast, 1)])
    await pipeline.submit([Message(slow, 2), Message(fast, 2)])
    await asyncio.sleep(0.05)
    # The fast lane went on to the second batch; the slow lane's second message waits for its first.
    assert handled == [f"{fast}-1", f"{fast}-2"]
    release.set()
    await pipeline.drain()
    assert handled == [f"{fast}-1", f"{fast}-2", f"{slow}-1", f"{slow}-2"]


async def test_a_failed_lane_abandons_its_later_messages_and_its_error_is_raised_once() -> None:
    broken, fine = _two_lanes()
    handled: list[str] = []

    async def handle(messages: Sequence[IncomingMessage]) -> None:
        for message in messages:
            if message.message_id == f"{broken}-1":
                raise RuntimeError("lane failed")
            handled.append(message.message_id)

    pipeline = LanePipeline(2, handle, depth=3)
    await pipeline.submit([Message(broken, 1), Message(fine, 1)])
    await pipeline.submit([Message(broken, 2), Message(fine, 2)])
    await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="lane failed"):
        await pipeline.reap()
    await pipeline.drain()  # the second batch's broken part was abandoned, not an error again
    assert handled == [f"{fine}-1", f"{fine}-2"]


async def test_a_refresh_keeps_an_origin_parked_while_it_read() -> None:
    blocked = BlockedOrigins()
    blocked.add("resolved")
    blocked.add("still")

    async def read() -> set[str]:
        blocked.add("parked meanwhile")  # a lane parks while the dead letters are read
        return {"still"}

    await blocked.refresh(read)
    assert blocked == {"still", "parked meanwhile"}


async def test_a_refresh_reads_while_an_origin_is_blocked_and_otherwise_only_now_and_then() -> None:
    blocked = BlockedOrigins(interval=60)
    reads: list[set[str]] = [{"old"}, set(), {"parked"}]

    async def read() -> set[str]:
        return reads.pop(0)

    await blocked.refresh(read)  # the first refresh reads: letters a former instance parked
    assert blocked == {"old"}
    await blocked.refresh(read)  # blocked: reads again (a replay resolved "old")
    assert blocked == set() and len(reads) == 1
    await blocked.refresh(read)  # nothing blocked, read a moment ago: nothing new can be there
    assert len(reads) == 1
    blocked.add("parked")  # after its dead letter was written
    await blocked.refresh(read)  # blocked: reads
    assert blocked == {"parked"} and reads == []
