"""The generated HTTP API against direct Python calls, in the same run: the identity domain's
`CreateUser` (16 concurrent senders, a new user each) and its `get_user` query (one caller, one
request after another, each timed), through `python -m acci.cli --app identity.service:service
serve` (uvicorn in a subprocess, 1 and 4 worker processes, HTTP/1.1 keep-alive connections, one
per sender) and through the generated handler and query class in this process.

The raw column is not raw psycopg: it is the same command handler and query called directly, so
the ratio is what HTTP costs (FastAPI's validation and serialization, uvicorn, the sockets). The
client is bench.http_client (requests made up front as bytes, httptools parsing the answers), not
httpx: on two shared cores, a general client's own CPU per request (about the server's) was taken
from the server. Each HTTP sample also logs the server's CPU per request (its processes, from
/proc) and the client's. The servers start before a sample and stop after it (not timed); they
take the caller's tenant and user from headers (ACCI_HTTP__AUTH=headers), so no JWT is verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from acci import Command, CommandMetadata
from acci.migrations import migrate
from acci.projections import ProjectionRunner
from identity.commands import CreateUser  # type: ignore[import-not-found, unused-ignore]
from identity.handlers import CreateUserHandler  # type: ignore[import-not-found, unused-ignore]
from identity.projections import UserViewProjection  # type: ignore[import-not-found, unused-ignore]
from identity.queries import IdentityQueries  # type: ignore[import-not-found, unused-ignore]
from identity.service import migrations  # type: ignore[import-not-found, unused-ignore]

from bench import GENERATED
from bench.context import Context
from bench.http_client import Connection, server_cpu
from bench.runner import Run, Sample, Timer, Variant, Workload

TENANT = "bench-http"
HEADERS = {"X-Tenant-Id": TENANT, "X-User-Id": "bench"}
SENDERS = 16
#: Users created in setup, whom the queries read.
USERS = 1_000


def setup(ctx: Context) -> None:
    ctx.runner.run(_setup(ctx))


async def _setup(ctx: Context) -> None:
    await migrate(ctx.url, migrations())
    store = await ctx.store(4)
    handler = CreateUserHandler(store)
    ids = [uuid.UUID(int=k + 1) for k in range(USERS)]
    meta = CommandMetadata(user_id="bench", tenant_id=TENANT)
    for user in ids:
        data = CreateUser(user_id=user, email=f"u{user.int}@example.com", name=f"User {user.int}")
        await handler.handle(Command(data, meta))
    await ProjectionRunner(store, UserViewProjection()).catch_up()
    ctx.state["users"] = ids


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def _server(ctx: Context, workers: int, connections: int) -> AsyncIterator[_Served]:
    """`serve` with `workers` processes on a free port, and `connections` keep-alive
    connections to it (every worker up and warm)."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(GENERATED), os.environ.get("PYTHONPATH", "")]),
        "ACCI_DATABASE_URL": ctx.url,
        "ACCI_HTTP__AUTH": "headers",
        "ACCI_HTTP__PORT": str(port),
        "ACCI_HTTP__WORKERS": str(workers),
        "ACCI_DATABASE__POOL_MAX_SIZE": "8",
        "ACCI_LOG__LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "acci.cli", "--app", "identity.service:service", "serve"]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60)
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/livez")).status_code == 200:
                    break
            if process.returncode is not None or time.monotonic() > deadline:
                stderr = (await process.stderr.read()).decode() if process.stderr else ""
                raise RuntimeError(f"serve did not start (exit {process.returncode}): {stderr[-2000:]}")
            await asyncio.sleep(0.2)
        # Every worker up and warm: a few rounds of reads over all connections.
        first = ctx.state["users"][0]
        warm = [("/identity/queries/get-user", {"id": str(first)})] * SENDERS
        for _ in range(3):
            await asyncio.gather(*(client.get(url, params=params, headers=HEADERS) for url, params in warm))
        opened = [await Connection.open("127.0.0.1", port) for _ in range(connections)]
        try:
            target = f"/identity/queries/get-user?id={first}"
            for connection in opened:
                for _ in range(3):
                    await connection.send(connection.encode("GET", target, HEADERS))
            yield _Served(process.pid, opened)
        finally:
            for connection in opened:
                await connection.close()
    finally:
        await client.aclose()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()


class _Served:
    """A running server: its process id (for its CPU time) and the open connections to it."""

    def __init__(self, pid: int, connections: list[Connection]) -> None:
        self.pid, self.connections = pid, connections
        self.cpu_start = server_cpu(pid)

    def report(self, what: str, workers: int, sample: Sample) -> Sample:
        """Logs the server's and the client's CPU per request of the sample."""
        server = (server_cpu(self.pid) - self.cpu_start) / sample.events * 1000
        client = sample.cpu / sample.events * 1000
        print(
            f"    {what}, {workers} worker(s): server CPU {server:.2f} ms/request, "
            f"client (bench process) CPU {client:.2f} ms/request",
            file=sys.stderr,
            flush=True,
        )
        return sample


def _new_user(run: int, k: int, i: int) -> dict[str, Any]:
    user = uuid.uuid5(uuid.NAMESPACE_OID, f"{run}-{k}-{i}")
    return {"user_id": str(user), "email": f"{user.hex[:12]}@example.com", "name": f"Sender {k} {i}"}


def _http_commands(workers: int) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = max(1, ctx.mode.commands // SENDERS)
        latencies: list[float] = []
        async with _server(ctx, workers, SENDERS) as served:

            def requests(connection: Connection, k: int) -> list[bytes]:
                made = []
                for i in range(n):
                    body = _new_user(run, k, i)
                    user = body.pop("user_id")
                    target = f"/identity/users/{user}"
                    made.append(connection.encode("POST", target, HEADERS, json.dumps(body).encode()))
                return made

            async def sender(connection: Connection, made: list[bytes]) -> None:
                for request in made:
                    started = time.perf_counter()
                    status, answer = await connection.send(request)
                    latencies.append(time.perf_counter() - started)
                    if status != 200:
                        raise RuntimeError(f"CreateUser over HTTP: {status} {answer[:500]!r}")

            made = [requests(c, k) for k, c in enumerate(served.connections)]
            served.cpu_start = server_cpu(served.pid)
            timer = Timer()
            await asyncio.gather(*(sender(c, m) for c, m in zip(served.connections, made, strict=True)))
            return served.report("CreateUser", workers, timer.stop(n * SENDERS, latencies))

    return measure


async def direct_commands(ctx: Context, run: int) -> Sample:
    n = max(1, ctx.mode.commands // SENDERS)
    handler = CreateUserHandler(await ctx.store(4))
    meta = CommandMetadata(user_id="bench", tenant_id=TENANT)
    latencies: list[float] = []

    async def sender(k: int) -> None:
        for i in range(n):
            values = _new_user(run + 1_000_000, k, i)
            command = Command(CreateUser.model_validate(values), meta)
            started = time.perf_counter()
            await handler.handle(command)
            latencies.append(time.perf_counter() - started)

    timer = Timer()
    await asyncio.gather(*(sender(k) for k in range(SENDERS)))
    return _direct_report("CreateUser", timer.stop(n * SENDERS, latencies))


def _http_queries(workers: int) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n, users = ctx.mode.searches, ctx.state["users"]
        latencies: list[float] = []
        async with _server(ctx, workers, 1) as served:
            connection = served.connections[0]
            made = [
                connection.encode(
                    "GET", f"/identity/queries/get-user?id={users[(run * n + i) % len(users)]}", HEADERS
                )
                for i in range(n)
            ]
            served.cpu_start = server_cpu(served.pid)
            timer = Timer()
            for request in made:
                started = time.perf_counter()
                status, answer = await connection.send(request)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"get_user over HTTP: {status} {answer[:500]!r}")
            return served.report("get_user", workers, timer.stop(n, latencies))

    return measure


async def direct_queries(ctx: Context, run: int) -> Sample:
    n, users = ctx.mode.searches, ctx.state["users"]
    queries = IdentityQueries.of(await ctx.store(4))
    latencies: list[float] = []
    timer = Timer()
    for i in range(n):
        started = time.perf_counter()
        row = await queries.get_user(TENANT, id=users[(run * n + i) % len(users)])
        latencies.append(time.perf_counter() - started)
        if row is None:
            raise RuntimeError("get_user found no row")
    return _direct_report("get_user", timer.stop(n, latencies))


def _direct_report(what: str, sample: Sample) -> Sample:
    cpu = sample.cpu / sample.events * 1000
    print(f"    {what}, direct: CPU {cpu:.2f} ms/call (this process)", file=sys.stderr, flush=True)
    return sample


_MEANS = "direct Python calls of the same handler or query in this process (no HTTP)"

WORKLOADS = [
    Workload(
        "http-commands",
        f"CreateUser over HTTP, {SENDERS} concurrent senders",
        [
            Variant("acci", "HTTP, 1 uvicorn worker", _http_commands(1)),
            Variant("acci", "HTTP, 4 uvicorn workers", _http_commands(4)),
            Variant("raw", "direct CommandHandler.handle", direct_commands),
        ],
        unit="commands/s",
        setup=setup,
        raw_means=_MEANS,
    ),
    Workload(
        "http-queries",
        "get_user over HTTP, one caller, request after request",
        [
            Variant("acci", "HTTP, 1 uvicorn worker", _http_queries(1)),
            Variant("acci", "HTTP, 4 uvicorn workers", _http_queries(4)),
            Variant("raw", "direct IdentityQueries.get_user", direct_queries),
        ],
        unit="queries/s",
        setup=setup,
        raw_means=_MEANS,
    ),
]
