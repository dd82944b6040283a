"""The relay and the consumer as processes of their own, for the kill tests:

    python -m tests.runtime.integration.procs relay    DATABASE_URL NATS_URL DOMAIN MODE
    python -m tests.runtime.integration.procs consumer DATABASE_URL NATS_URL DOMAIN MODE

MODE "publish" pauses after sending a window and before reading its acknowledgements, printing
SENT; "checkpoint" pauses after the acknowledgements and before the checkpoint moves, printing
ACKED; "committed" (consumer) pauses after a command committed and before its message is
acknowledged, printing COMMITTED; "random" never pauses. The test SIGKILLs the process at a marker
or at a random time. Each prints READY once it is the active instance.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from acci import PostgresEventStore
from acci.integration import Ack, IntegrationConsumer, IntegrationRelay, OutgoingMessage, TransportError
from acci.integration.jetstream import NatsTransport
from acci.integration.transport import IncomingMessage

from tests.runtime.integration.conftest import fast_settings
from tests.runtime.integration.domains import billing_consumes, order_registry, orders_publisher

PAUSE = 0.3


def say(text: str) -> None:
    print(text, flush=True)


class MarkedTransport(NatsTransport):
    mode = "random"

    async def publish(
        self, stream: str, messages: Sequence[OutgoingMessage], ack_within: float
    ) -> list[Ack | TransportError]:
        if self.mode == "publish":
            for message in messages:
                headers = {**message.headers, "Nats-Msg-Id": message.message_id}
                await self.js.publish_async(message.subject, message.data, stream=stream, headers=headers)
            await self.client.flush()
            say("SENT")
            await asyncio.sleep(PAUSE)
        return await super().publish(stream, messages, ack_within)


class MarkedRelay(IntegrationRelay):
    mode = "random"

    async def _publish(self, window: list[OutgoingMessage], stop: asyncio.Event | None) -> None:
        await super()._publish(window, stop)
        if self.mode == "checkpoint":
            say("ACKED")
            await asyncio.sleep(PAUSE)


class MarkedConsumer(IntegrationConsumer):
    mode = "random"

    async def consume(self, message: IncomingMessage, blocked: set[str], stop: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
        outcome = await super().consume(message, blocked, stop)
        if self.mode == "committed":
            say("COMMITTED")
            await asyncio.sleep(PAUSE)
        return outcome


async def main(role: str, database_url: str, nats_url: str, domain: str, mode: str) -> None:
    settings = fast_settings(nats_url)
    store = await PostgresEventStore.open(database_url)
    transport = await MarkedTransport.connect(settings.nats)
    transport.mode = mode
    worker: MarkedRelay | MarkedConsumer
    if role == "relay":
        worker = MarkedRelay(store, transport, orders_publisher(domain), order_registry, settings)
    else:
        worker = MarkedConsumer(
            store, transport, billing_consumes(domain), settings, name=f"billing_{domain}"
        )
    worker.mode = mode
    say("READY")
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
