"""Kill and restart tests: the relay and the consumer SIGKILLed at chosen points while work goes
on, and the NATS server restarted while the relay publishes. Afterwards every published event
took effect in billing exactly once, in order, and none was lost."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from acci import PostgresEventStore
from acci.integration import IntegrationSettings, relay_status
from acci.integration.jetstream import NatsTransport

from tests.runtime.integration.conftest import fast_settings
from tests.runtime.integration.helpers import (
    billing_effects,
    bounded,
    eventually,
    make_consumer,
    make_relay,
    stream_messages,
    write_orders,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.nats]

ROOT = Path(__file__).resolve().parents[3]
NATS_SERVER = "/usr/sbin/nats-server"
KILLS = 12
#: The kill points, in turn: where the process pauses (and is killed), or at a random time.
RELAY_MODES = ("publish", "checkpoint", "random")
CONSUMER_MODES = ("committed", "random")


class Worker:
    """`python -m tests.runtime.integration.procs ...`, killed with SIGKILL."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.runtime.integration.procs", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    async def wait_for(self, marker: str, seconds: float = 20.0) -> None:
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            for line in stdout:
                if line.strip() == marker:
                    return
            raise AssertionError(f"the worker exited (code {self.process.wait()}) before printing {marker}")

        await asyncio.wait_for(asyncio.to_thread(read), seconds)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


async def kill_rounds(
    role: str, modes: tuple[str, ...], db_url: str, nats_url: str, domain: str
) -> list[str]:
    """Start the worker KILLS times, each killed at its mode's marker (or at a random moment)."""
    rng = random.Random(16)
    done = []
    for round_ in range(KILLS):
        mode = modes[round_ % len(modes)]
        worker = Worker(role, db_url, nats_url, domain, mode)
        try:
            await worker.wait_for("READY")
            if mode == "random":
                await asyncio.sleep(rng.uniform(0.3, 1.2))
            else:
                await worker.wait_for(
                    {"publish": "SENT", "checkpoint": "ACKED", "committed": "COMMITTED"}[mode]
                )
        finally:
            worker.kill()
        done.append(mode)
    return done


async def write_while(store: PostgresEventStore, stop: asyncio.Event, prefix: str) -> list[tuple[str, str]]:
    written: list[tuple[str, str]] = []
    batch = 0
    while not stop.is_set():
        written += await write_orders(store, f"{prefix}{batch}", 3)
        batch += 1
        await asyncio.sleep(0.05)
    return written


async def assert_exactly_once(
    orders: list[tuple[str, str]],
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
) -> None:
    """Every event reached the stream once, and took effect in billing once, in order."""
    messages = await stream_messages(transport, domain)
    ids = [m.headers["Nats-Msg-Id"] for m in messages]
    assert len(ids) == len(set(ids)) == 2 * len(orders)
    events = await postgres_store.read_all(limit=100_000)
    assert set(ids) == {str(e.id) for e in events}
    await bounded(make_consumer(billing_store, transport, domain, settings).catch_up(), 60)
    assert await billing_effects(billing_store) == {o: ["AccountOpened", "AccountConfirmed"] for o in orders}


async def test_the_relay_killed_at_any_point_loses_and_duplicates_nothing(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
    acci_database_url: str,
) -> None:
    stop = asyncio.Event()
    writer = asyncio.create_task(write_while(postgres_store, stop, "k"))
    try:
        modes = await kill_rounds("relay", RELAY_MODES, acci_database_url, settings.nats.url, domain)
    finally:
        stop.set()
        orders = await bounded(writer)
    assert len(modes) >= 10 and set(modes) == set(RELAY_MODES)
    # A last relay, not killed, publishes what is left.
    await bounded(make_relay(postgres_store, transport, domain, settings).catch_up(), 60)
    await assert_exactly_once(orders, postgres_store, billing_store, transport, domain, settings)


async def test_the_consumer_killed_at_any_point_takes_every_effect_once(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
    billing_database_url: str,
) -> None:
    stop = asyncio.Event()
    relay = make_relay(postgres_store, transport, domain, settings)
    await relay.start()
    orders = await write_orders(postgres_store, "c", 20)
    writer = asyncio.create_task(write_while(postgres_store, stop, "w"))
    relaying = asyncio.create_task(relay.run(stop))
    try:
        modes = await kill_rounds("consumer", CONSUMER_MODES, billing_database_url, settings.nats.url, domain)
    finally:
        stop.set()
        orders += await bounded(writer)
        await bounded(relaying)
    assert len(modes) >= 10
    await bounded(relay.catch_up(), 60)
    await assert_exactly_once(orders, postgres_store, billing_store, transport, domain, settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """A nats-server of this test's own (port, store directory), not the shared one."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    async def ready(self) -> None:
        async def answers() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            await writer.wait_closed()
            return True

        await eventually(answers, 10, f"nats-server on port {self.port}")


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.store_dir, ignore_errors=True)


@pytest_asyncio.fixture
async def own_transport(
    own_nats: NatsServer,
) -> AsyncIterator[tuple[NatsServer, NatsTransport, IntegrationSettings]]:
    await own_nats.ready()
    settings = fast_settings(own_nats.url)
    transport = await NatsTransport.connect(settings.nats)
    try:
        yield own_nats, transport, settings
    finally:
        await transport.close()


async def test_the_relay_resumes_without_loss_after_nats_restarts(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    own_transport: tuple[NatsServer, NatsTransport, IntegrationSettings],
    domain: str,
) -> None:
    server, transport, settings = own_transport
    relay = make_relay(postgres_store, transport, domain, settings)
    stop = asyncio.Event()
    writer = asyncio.create_task(write_while(postgres_store, stop, "r"))
    relaying = asyncio.create_task(relay.run(stop))
    try:
        for _ in range(2):
            await asyncio.sleep(0.7)
            server.stop()  # while the relay publishes
            await asyncio.sleep(0.5)
            server.start()
            await server.ready()
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        orders = await bounded(writer)
        await bounded(relaying)

    async def relayed() -> bool:
        await relay.catch_up()
        return (await relay_status(postgres_store, relay)).lag_events == 0

    await eventually(relayed, 30, "the relay catching up after the restarts")
    assert (await transport.js.stream_info(relay.stream.name)).state.messages == 2 * len(orders)
    await assert_exactly_once(orders, postgres_store, billing_store, transport, domain, settings)
