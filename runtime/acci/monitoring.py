"""The HTTP endpoints of a running service for its orchestrator and for Prometheus.

    GET /livez    200 while the service's event loop answers (else 503): restart me if not
    GET /readyz   200 when `check_readiness` passes, else 503; JSON with every check and why it failed
    GET /metrics  the Prometheus text format: ACCI's metrics, the process's and the garbage collector's

The server is the standard library's, in a thread of its own, so that a scrape never waits for the
event loop; the two probes run their checks on the loop (`asyncio.run_coroutine_threadsafe`) with a
timeout, so a stuck loop shows as a failing probe instead of a hanging one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from acci.errors import ConfigurationError
from acci.health import CheckResult, HealthReport
from acci.metrics import exposition

log = logging.getLogger("acci.monitoring")

PATHS = ("/livez", "/readyz", "/metrics")
_METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MonitoringServer:
    """Serves /livez, /readyz and /metrics on `host:port` while started (port 0: a free one)."""

    def __init__(
        self,
        readiness: Callable[[], Awaitable[HealthReport]],
        *,
        host: str = "127.0.0.1",
        port: int = 9108,
        timeout: float = 10.0,
    ) -> None:
        self.readiness = readiness
        self.host, self.port, self.timeout = host, port, timeout
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind and serve from a background thread; the probes' checks run on `loop`."""
        handler = type("Handler", (_Handler,), {"monitor": self, "loop": loop})
        server_class = _IPv6Server if ":" in self.host else ThreadingHTTPServer
        try:
            server = server_class((self.host, self.port), handler)
        except OSError as error:
            raise ConfigurationError(
                f"cannot serve health and metrics on {self.host}:{self.port}: {error.strerror or error}. "
                "Set ACCI_MONITORING__PORT to a free port (0 picks one) or ACCI_MONITORING__HOST to an "
                "address of this machine, or stop the process that holds it."
            ) from None
        server.daemon_threads = True
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="acci-monitoring", daemon=True)
        self._thread.start()
        log.info("health and metrics on %s (/livez, /readyz, /metrics)", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    async def liveness(self) -> HealthReport:
        return HealthReport([CheckResult("event_loop", True, "the service's event loop answers")])


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    monitor: MonitoringServer
    loop: asyncio.AbstractEventLoop
    server_version = "acci"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(HTTPStatus.OK, exposition(), _METRICS_TYPE)
        elif path in ("/livez", "/readyz"):
            check = self.monitor.liveness if path == "/livez" else self.monitor.readiness
            report = self._on_loop(path, check)
            status = HTTPStatus.OK if report.ok else HTTPStatus.SERVICE_UNAVAILABLE
            self._json(status, report.as_dict())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": f"no endpoint {path}", "paths": PATHS})

    def _on_loop(self, path: str, check: Callable[[], Awaitable[HealthReport]]) -> HealthReport:
        async def run() -> HealthReport:
            return await check()

        try:
            future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        except RuntimeError:  # the loop has closed: the service is stopping
            return HealthReport([CheckResult("event_loop", False, "the service is stopping")])
        try:
            return future.result(self.monitor.timeout)
        except FutureTimeout:
            future.cancel()
            detail = f"{path} got no answer from the service's event loop within {self.monitor.timeout}s"
            return HealthReport([CheckResult("event_loop", False, detail)])
        except Exception as error:  # a check that raised: report it, never a traceback page
            return HealthReport([CheckResult("checks", False, f"{type(error).__name__}: {error}")])

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body, default=str).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes and scrapes arrive every few seconds: their access lines are noise.
        log.debug("%s %s", self.address_string(), format % args)
