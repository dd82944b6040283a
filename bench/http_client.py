"""A lean HTTP/1.1 keep-alive client for the HTTP workloads, and the CPU time of a server's processes.

The bench process is the load generator, and it shares two cores with the server and PostgreSQL:
a general client such as httpx costs about as much CPU per request as the generated API itself
(~1.4 ms per `get_user` on this machine against ~1 ms in the server), and that CPU was taken from
the server and counted in its figures. Here each connection writes requests made up front as
bytes and httptools (uvicorn's own parser, C) reads the answers: a few tens of microseconds.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httptools  # type: ignore[import-untyped, unused-ignore]


class _Answer:
    """httptools' callbacks: the body and whether the message is complete."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class Connection:
    """One keep-alive connection: one request at a time, as a browser or a service's client sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    def encode(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        """A request as bytes (made before the timed part when it can be)."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """(status, body) of the answer to `request` (from `encode`)."""
        self.writer.write(request)
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        while not answer.complete:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            parser.feed_data(data)
        return int(parser.get_status_code()), bytes(answer.body)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _cpu_of(pid: int) -> float:
    """User and system CPU seconds of a process (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(entry.name))
    return found


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by a server process and its worker processes (uvicorn's
    supervisor and its children): read before and after a sample, the difference is its cost."""
    return _cpu_of(pid) + sum(_cpu_of(child) for child in _children(pid))
