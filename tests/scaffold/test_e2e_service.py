"""End to end, as a team lives with a service: ACCI's wheel is installed into a virtual environment,
`acci-gen new` creates the service there, and everything it was made from is deleted (the
installation, the wheel, the creator's home). A teammate clones the service to another path with
another home and runs what CI runs; the service's wheel is installed, as the Dockerfile does, into
a fresh environment outside the source tree and operated from there; a newer acci-gen upgrades
the clone. Every command docs/service-template.md shows is one these tests ran (the last test).

These build real wheels and virtual environments (marks: slow, e2e). They share one service per
module; pip's own cache is shared between the environments, so each package downloads once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from acci.database import with_database
from psycopg import sql

from tests.scaffold.helpers import ROOT, build_acci_wheel, copy_source

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DOCS = ROOT / "docs" / "service-template.md"
NAME, PACKAGE = "orders-service", "orders_service"
#: The repository URL the docs show, and the path the tests clone from instead.
SHOWN_ORIGIN = "git@github.com:acme/orders-service.git"
#: The commands the tests ran, as the docs show them.
RAN: list[str] = []


def _pip_cache() -> str:
    found = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return found or str(Path.home() / ".cache" / "pip")


PIP_CACHE = _pip_cache()


@dataclass
class Shell:
    """bash with a home of its own and nothing of this checkout's environment (no ACCI_*, no
    PYTHONPATH, no virtual environment on PATH)."""

    home: Path
    extra: dict[str, str]

    def env(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ACCI_", "PYTHON", "VIRTUAL_ENV", "PIP_CACHE", "XDG_"))
        }
        venv_bin = str(Path(sys.executable).parent)
        inherited["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
        # A teammate's git knows who they are; the creator's home is gone with its configuration.
        person = {f"GIT_{role}_{key}": value for role in ("AUTHOR", "COMMITTER") for key, value in
                  (("NAME", "A Teammate"), ("EMAIL", "teammate@example.com"))}  # fmt: skip
        return {**inherited, **person, "HOME": str(self.home), "PIP_CACHE_DIR": PIP_CACHE, **self.extra}

    def __call__(
        self, command: str, cwd: Path, *, shown: str | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        RAN.append(shown or command)
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, (
            f"`{command}` exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result

    def start(self, command: str, cwd: Path, *, shown: str) -> subprocess.Popen[str]:
        RAN.append(shown)
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    """Where the creator and the teammate work. Not below pytest's private temporary directory:
    an embedded PostgreSQL started as root runs as another user, who must reach the service's
    .venv."""
    path = Path(tempfile.mkdtemp(prefix="acci-e2e-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def origin(workspace: Path, acci_wheel: Path) -> Path:
    """The service as the creator pushed it, made by acci-gen installed from ACCI's wheel; the
    installation, the wheel and the creator's home are gone afterwards."""
    base = workspace / "creator"
    base.mkdir()
    home = base / "home"
    home.mkdir()
    wheel = Path(shutil.copy2(acci_wheel, base / acci_wheel.name))
    venv = base / "acci"
    sh = Shell(home, {})
    sh(f"{sys.executable} -m venv {venv}", base, shown="")
    sh(f"{venv}/bin/python -m pip install --quiet '{wheel}[gen]'", base, shown="")
    sh(f"PATH={venv}/bin:$PATH acci-gen new {NAME}", base, shown=f"acci-gen new {NAME}")
    for made_from in (venv, home):
        shutil.rmtree(made_from)
    wheel.unlink()
    return base / NAME


@dataclass
class Clone:
    path: Path
    sh: Shell
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def clone(workspace: Path, origin: Path) -> Clone:
    """A teammate's clone at another path with another home, after the steps CI runs."""
    base = workspace / "teammate"
    base.mkdir()
    home = base / "home"
    home.mkdir()
    sh = Shell(home, {})
    sh(f"git clone --quiet {origin}", base, shown=f"git clone {SHOWN_ORIGIN}")
    path = base / NAME
    outputs = {step: sh(step, path).stdout for step in ("./dev check", "./dev test", "./dev wheel")}
    return Clone(path, sh, outputs)


def test_a_fresh_clone_passes_its_tests_and_its_ci_steps(clone: Clone, origin: Path) -> None:
    assert "generated/ is up to date" in clone.outputs["./dev check"]
    tests = clone.outputs["./dev test"]
    assert re.search(r"\d+ passed", tests) and "failed" not in tests and "skipped" not in tests
    assert sorted(p.name for p in (clone.path / "dist").iterdir()) == [
        f"acci-{_version()}-py3-none-any.whl",
        f"{PACKAGE}-0.1.0-py3-none-any.whl",
    ]
    # the service installed ACCI from its own wheels/, nothing else of this machine
    record = clone.path / ".venv" / "lib"
    [direct] = record.glob("python3*/site-packages/acci-*.dist-info/direct_url.json")
    assert (
        json.loads(direct.read_text())["url"]
        == (clone.path / "wheels" / f"acci-{_version()}-py3-none-any.whl").as_uri()
    )


def test_the_ci_files_run_the_steps_these_tests_ran(clone: Clone) -> None:
    steps = ["./dev check", "./dev test", "./dev wheel"]
    github = yaml.safe_load((clone.path / ".github" / "workflows" / "ci.yml").read_text())
    assert [s["run"] for s in github["jobs"]["test"]["steps"] if "run" in s] == steps
    assert "postgres" in github["jobs"]["test"]["services"]
    gitlab = yaml.safe_load((clone.path / ".gitlab-ci.yml").read_text())
    assert gitlab["test"]["script"] == steps
    assert gitlab["test"]["services"][0]["name"].startswith("postgres")
    assert all(step in clone.outputs for step in steps)


def test_dev_run_serves_until_sigterm(clone: Clone) -> None:
    clone.sh.extra.update(ACCI_MONITORING__PORT="0", ACCI_LOG__FORMAT="json")
    try:
        process = clone.sh.start("./dev run", clone.path, shown="./dev run")
    finally:
        del clone.sh.extra["ACCI_MONITORING__PORT"], clone.sh.extra["ACCI_LOG__FORMAT"]
    with _stopping(process):
        url = _wait_for_url(process)
        assert _get_json(f"{url}/readyz")["ok"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


def test_dev_serve_answers_commands_and_queries_over_http_until_sigterm(clone: Clone) -> None:
    port = _free_port()
    clone.sh.extra.update(ACCI_HTTP__PORT=str(port))
    try:
        process = clone.sh.start("./dev serve", clone.path, shown="./dev serve")
    finally:
        del clone.sh.extra["ACCI_HTTP__PORT"]
    with _stopping(process):
        url = _wait_for_uvicorn(process)
        assert url == f"http://127.0.0.1:{port}"
        who = {"X-Tenant-Id": "t1", "X-User-Id": "ops"}
        note = "6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f"
        status, created = _http("POST", f"{url}/notes/notes/{note}", {"title": "Over HTTP", "body": "b"}, who)
        assert status == 200 and [e["type"] for e in created["events"]] == ["NoteCreated"], created
        status, state = _http("GET", f"{url}/notes/notes/{note}", None, who)
        assert status == 200 and state["state"]["title"] == "Over HTTP"
        # The query waits until the runner (--with-projections) has projected the note.
        read = {**who, "Acci-Min-Position": created["position"]}
        status, rows = _http("GET", f"{url}/notes/queries/notes-by-status?status=active", None, read)
        assert status == 200 and [row["title"] for row in rows["items"]] == ["Over HTTP"], rows
        status, problem = _http("POST", f"{url}/notes/notes/{note}", {"title": "Again"}, who)
        assert status == 409 and problem["type"].endswith("/already-exists")
        with urllib.request.urlopen(f"{url}/docs", timeout=10) as response:
            assert response.status == 200 and b"swagger" in response.read().lower()
        paths = _get_json(f"{url}/openapi.json")["paths"]
        committed = json.loads((clone.path / "generated" / "notes" / "openapi.json").read_text())
        assert set(paths) == set(committed["paths"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


def test_the_wheel_deploys_outside_the_source_tree(
    clone: Clone, tmp_path: Path, acci_server_url: str
) -> None:
    dockerfile = (clone.path / "Dockerfile").read_text()
    stages = re.findall(r"(?m)^FROM (\S+)", dockerfile)
    assert len(stages) == 2 and all(image.startswith("python:3.11-slim") for image in stages)
    assert "RUN ./dev wheel" in dockerfile and "COPY --from=build /src/dist /dist" in dockerfile
    assert re.search(r"(?m)^RUN useradd .*--uid 10001 service$", dockerfile)
    assert dockerfile.index("USER service") > dockerfile.rindex("RUN ")  # nothing runs as root after
    [install] = [line[4:] for line in dockerfile.splitlines() if line.startswith("RUN python -m venv")]
    assert install in _doc_commands(), "the docs show the Dockerfile's install step"

    # the image's steps, in a virtual environment: the two wheels only, from another directory
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "service", tmp_path / "elsewhere"
    shutil.copytree(clone.path / "dist", dist)
    elsewhere.mkdir()
    clone.sh(install.replace("/opt/service", str(venv)).replace("/dist", str(dist)), elsewhere, shown=install)
    database = _empty_database(acci_server_url, "orders_deployed")
    try:
        clone.sh.extra["ACCI_DATABASE_URL"] = database
        python = f"{venv}/bin/python -m {PACKAGE}"
        shown = f"/opt/service/bin/python -m {PACKAGE}"
        migrated = clone.sh(f"{python} migrate", elsewhere, shown=f"{shown} migrate").stdout
        assert "notes 0001_create_note_list" in migrated
        clone.sh(f"{python} config", elsewhere, shown=f"{shown} config")
        note = "3f2b8c1e-9d4a-4e7b-8a6c-5d1e2f3a4b5c"
        clone.sh(f"{venv}/bin/python -c {_quoted(COMMAND)} {note}", elsewhere, shown="")

        clone.sh.extra.update(ACCI_MONITORING__PORT="0", ACCI_LOG__FORMAT="json")
        service = clone.sh.start(f"{python} run", elsewhere, shown=f"{shown} run")
        with _stopping(service):
            url = _wait_for_url(service)
            deadline = time.monotonic() + 60
            while True:
                ready = _get_json(f"{url}/readyz")
                [lag] = [c for c in ready["checks"] if c["name"] == "projection:note_list:lag"]
                if (ready["ok"] and lag["data"]["lag_events"] == 0) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert ready["ok"] and lag["data"]["lag_events"] == 0, ready
            with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
                assert (
                    'acci_projection_events_handled_total{projection="note_list"} 1.0'
                    in response.read().decode()
                )
            service.send_signal(signal.SIGTERM)
            assert service.wait(60) == 0
        found = clone.sh(f"{venv}/bin/python -c {_quoted(QUERY)}", elsewhere, shown="").stdout
        assert json.loads(found) == [["Deployed", "active"]]
        status = clone.sh(
            f"{python} projections status", elsewhere, shown=f"{shown} projections status"
        ).stdout
        assert re.search(r"(?m)^note_list\s+idle\s", status)
    finally:
        clone.sh.extra.pop("ACCI_DATABASE_URL", None)
        clone.sh.extra.pop("ACCI_MONITORING__PORT", None)
        clone.sh.extra.pop("ACCI_LOG__FORMAT", None)
        _drop_database(acci_server_url, "orders_deployed")


def test_a_newer_acci_gen_upgrades_the_clone(clone: Clone, tmp_path: Path) -> None:
    """A teammate installs a newer acci-gen (here: its wheel into the clone's environment) and
    upgrades: the template change arrives, the wheel in wheels/ is the new one, the tests pass."""
    source = copy_source(tmp_path / "acci")
    (source / "templates" / "service" / "CONTRIBUTING.md").write_text(
        "# Contributing\n\nPull requests welcome.\n"
    )
    newer = build_acci_wheel(source, tmp_path / "wheel")
    venv_python = clone.path / ".venv" / "bin" / "python"
    clone.sh(
        f"{venv_python} -m pip install --quiet --no-deps --force-reinstall {newer}", clone.path, shown=""
    )
    upgraded = clone.sh("PATH=.venv/bin:$PATH acci-gen upgrade", clone.path, shown="acci-gen upgrade").stdout
    assert f"from v{_version()} to v{_version()}.post1" in upgraded
    assert "Pull requests welcome." in (clone.path / "CONTRIBUTING.md").read_text()
    assert "wheels/acci-" in clone.sh("git status --short", clone.path, shown="git status").stdout
    clone.sh("git add -A", clone.path)
    clone.sh('git commit -m "Upgrade the service template"', clone.path)
    clone.sh("./dev test", clone.path)
    clone.sh("./dev upgrade", clone.path)  # nothing left to do


def test_every_command_the_docs_show_was_run() -> None:
    """Docker itself is not here: its steps ran above (the Dockerfile's, in a virtual environment)."""
    missing = [
        command
        for command in _doc_commands()
        if command not in RAN and not command.startswith(("docker ", "cd ", "export "))
    ]
    assert not missing, f"docs/service-template.md shows commands no test ran: {missing}"


# -- helpers ------------------------------------------------------------------------------------

COMMAND = """
import asyncio, sys, uuid
from acci import Command, CommandMetadata, PostgresEventStore
from acci.settings import load_settings
from notes.commands import CreateNote
from notes.handlers import handle

async def main() -> None:
    async with await PostgresEventStore.open(load_settings().url()) as store:
        data = CreateNote(note_id=uuid.UUID(sys.argv[1]), title="Deployed", body="from the wheel")
        await handle(store, Command(data, CommandMetadata(user_id="ops", tenant_id="t1")))

asyncio.run(main())
"""

QUERY = """
import asyncio, json
from acci import PostgresEventStore
from acci.settings import load_settings
from notes.queries import NotesQueries

async def main() -> None:
    async with await PostgresEventStore.open(load_settings().url()) as store:
        rows = await NotesQueries.of(store).notes_by_status("t1")
        print(json.dumps([[row.title, row.status] for row in rows]))

asyncio.run(main())
"""


def _quoted(code: str) -> str:
    return "'" + code.replace("'", "'\"'\"'") + "'"


def _version() -> str:
    from acci_gen import __version__

    return __version__


def _doc_commands() -> list[str]:
    """Every command line of the sh blocks in docs/service-template.md (comments stripped)."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def _wait_for_url(process: subprocess.Popen[str], timeout: float = 120) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        found = re.search(r"health and metrics on (http://\S+) ", line)
        if found:
            _drain(process)
            return found[1]
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"the service exited {process.wait()}: {''.join(seen)}")


def _wait_for_uvicorn(process: subprocess.Popen[str], timeout: float = 300) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        found = re.search(r"Uvicorn running on (http://\S+) ", line)
        if found:
            _drain(process)
            return found[1]
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"serve exited {process.wait()}: {''.join(seen)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _http(method: str, url: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _drain(process: subprocess.Popen[str]) -> None:
    """Keep reading the service's output, so that a full pipe never blocks it."""
    assert process.stdout is not None
    threading.Thread(target=process.stdout.read, daemon=True).start()


@contextmanager
def _stopping(process: subprocess.Popen[str]) -> Iterator[None]:
    try:
        yield
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def _get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    found = json.loads(body)
    assert isinstance(found, dict)
    return found


def _empty_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
