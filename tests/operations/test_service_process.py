"""`run` as a real process: it answers its probes, SIGTERM lets the batch in progress commit and
exits 0 (or, past the shutdown timeout, rolls it back and exits 1), and a wrong database URL, a
busy port or a bad setting is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.runtime.test_cli import seed

ROOT = Path(__file__).resolve().parents[2]


class Process:
    """A `python -m acci.cli ...` child whose stderr (JSON log lines) is read as it comes."""

    def __init__(self, *args: str, **env: str) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ACCI_")}
        environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "generated")])
        environment.update({"ACCI_LOG__FORMAT": "json", "ACCI_MONITORING__PORT": "0", **env})
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "acci.cli", *args],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.stdout = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.popen.poll() is None, f"exited {self.popen.returncode}: {''.join(self.seen)}"
                continue
            self.seen.append(line)
            if text in line:
                return json.loads(line) if line.startswith("{") else {"message": line}
        raise AssertionError(f"no {text!r} within {timeout}s: {''.join(self.seen)}")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.popen.wait(timeout)
        self._close()
        return code, "".join(self.seen)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        self._close()

    def _close(self) -> None:
        self.reader.join(10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None and not stream.closed:
                if stream is self.popen.stdout:
                    self.stdout += stream.read()
                stream.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def _rows_and_checkpoint(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM examples.user_view").fetchone()
        checkpoint = conn.execute(
            "SELECT global_position FROM acci.checkpoints WHERE name = 'slow_user_view'"
        ).fetchone()
    assert rows is not None
    return int(rows[0]), int(checkpoint[0]) if checkpoint else 0


SLOW = "tests.operations.slow_service:service"


def _slow_service(url: str, processes: list[Process], **env: str) -> Process:
    """3 users to project, and the slow service running on them."""
    seed(url, 3)
    service = Process("--app", SLOW, "run", "--migrate", ACCI_DATABASE_URL=url, **env)
    processes.append(service)
    return service


@pytest.mark.slow
def test_sigterm_lets_the_batch_in_progress_commit_then_exits_0(
    acci_database_url: str, processes: list[Process]
) -> None:
    service = _slow_service(
        acci_database_url, processes, ACCI_PROJECTIONS__BATCH_SIZE="2", SLOW_BATCH_SECONDS="2"
    )
    where = service.wait_for("health and metrics on")["message"].split()[-4]
    with urllib.request.urlopen(f"{where}/livez", timeout=10) as live:
        assert json.load(live)["ok"] is True
    service.wait_for("slow batch of 2 started")
    service.popen.send_signal(signal.SIGTERM)
    code, log = service.finish()
    assert code == 0, log
    assert "slow batch of 2 applied" in log and "stopped" in log and "Traceback" not in log
    assert "slow batch of 1" not in log  # no new batch after the signal
    rows, position = _rows_and_checkpoint(acci_database_url)
    assert rows == 2 and position > 0  # the batch and its checkpoint committed together


@pytest.mark.slow
def test_past_the_shutdown_timeout_the_batch_rolls_back_and_the_exit_is_1(
    acci_database_url: str, processes: list[Process]
) -> None:
    service = _slow_service(
        acci_database_url, processes, SLOW_BATCH_SECONDS="60", ACCI_SHUTDOWN_TIMEOUT="0.5"
    )
    service.wait_for("slow batch of 3 started")
    started = time.monotonic()
    service.popen.send_signal(signal.SIGTERM)
    code, log = service.finish(timeout=30)
    assert code == 1, log
    assert time.monotonic() - started < 20
    assert "did not stop within 0.5s: cancelled" in log and "Traceback" not in log
    assert _rows_and_checkpoint(acci_database_url) == (0, 0)


def _one_line_failure(*args: str, **env: str) -> tuple[int, str]:
    process = Process(*args, **env)
    code, log = process.finish(timeout=60)
    assert "Traceback" not in log + process.stdout
    assert log.count("\n") == 1, log
    return code, log


@pytest.mark.slow  # starts the service in a subprocess
def test_a_wrong_database_url_is_one_line(acci_database_url: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code, log = _one_line_failure(
        "--app", "identity.service:service", "run",
        ACCI_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/orders",
        ACCI_DATABASE__CONNECT_TIMEOUT="3",
    )  # fmt: skip
    assert code == 1
    assert log.startswith(f"acci: error: cannot connect to 127.0.0.1:{port}: connection refused")
    missing = psycopg.conninfo.make_conninfo(acci_database_url, dbname="no_such_database")
    code, log = _one_line_failure("--app", "identity.service:service", "migrate", ACCI_DATABASE_URL=missing)
    assert code == 1 and 'database "no_such_database" does not exist' in log


@pytest.mark.slow  # starts the service in a subprocess
def test_a_busy_port_is_one_line(acci_database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, log = _one_line_failure(
            "--app", "identity.service:service", "run",
            ACCI_DATABASE_URL=acci_database_url, ACCI_MONITORING__PORT=str(port),
        )  # fmt: skip
    assert code == 2
    assert log.startswith(f"acci: error: cannot serve health and metrics on 127.0.0.1:{port}")


@pytest.mark.slow  # starts the service in a subprocess
def test_a_bad_setting_is_one_line() -> None:
    code, log = _one_line_failure(
        "--app", "identity.service:service", "run", ACCI_MONITORING__PORT="http", ACCI_LOG__FORMAT="console"
    )
    assert code == 2 and log.startswith("acci: error: invalid settings: ACCI_MONITORING__PORT='http'")
