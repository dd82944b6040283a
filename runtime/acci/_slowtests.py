"""A pytest report of the tests that are slow but not marked so (acci.testing loads it).

A project that registers a `slow` marker keeps `pytest -m "not slow"` an inner loop of seconds only
while every test that takes seconds carries the marker. At the end of a run this lists the tests
without it that took longer than `acci_slow_seconds` (ini option, default 1 s), and the fixtures
shared by several tests (module or session scope) whose setup took that long: the first is fixed
by a marker, the second by a cheaper fixture or a marker on the module. It only reports; nothing
fails. Projects without a `slow` marker get no report.

A test's time is its setup, call and teardown, less the setup of the shared fixtures it happened
to be the first to need (those are listed on their own, once).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

_INI = "acci_slow_seconds"
_SHOWN = 20


@dataclass
class _Timings:
    #: Setup, call and teardown seconds of each test, by node id.
    tests: dict[str, float] = field(default_factory=dict)
    #: Seconds of shared setup inside each test's time, by node id.
    shared_in: dict[str, float] = field(default_factory=dict)
    #: (what, how it is shared, the first test that needed it, seconds) of each slow piece of
    #: shared setup: a fixture of module or session scope, a template database.
    fixtures: list[tuple[str, str, str, float]] = field(default_factory=list)
    #: Node ids of the tests marked slow.
    marked: set[str] = field(default_factory=set)
    current: str | None = None
    limit: float = 1.0

    def add_shared(self, what: str, scope: str, test: str, seconds: float) -> None:
        self.shared_in[test] = self.shared_in.get(test, 0.0) + seconds
        if seconds > self.limit and test not in self.marked:
            self.fixtures.append((what, scope, test, seconds))


#: The fixtures whose setup is the run's fixed cost, not a test's: the embedded PostgreSQL starts
#: once per run whatever is selected.
_FIXED = {"acci_server_url"}

#: The timings of the run in progress (None: no `slow` marker, no report).
_active: _Timings | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        "the end-of-run report lists tests not marked slow that took longer than this (seconds)",
        default="1.0",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _active
    markers = config.getini("markers")
    if any(str(line).split(":")[0].strip() == "slow" for line in markers):
        _active = _Timings()
        _active.limit = _threshold(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _active
    _active = None


@contextmanager
def shared(what: str) -> Iterator[None]:
    """Time spent inside is work that later tests share (a template database a test's fixture
    creates on first use): left out of the test's time and listed on its own when slow."""
    timings = _active
    started = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None and timings.current is not None:
            timings.add_shared(what, "first use", timings.current, time.perf_counter() - started)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    timings = _active
    if timings is not None:
        timings.current = item.nodeid
        if item.get_closest_marker("slow") is not None:
            timings.marked.add(item.nodeid)
    try:
        return (yield)
    finally:
        if timings is not None:
            timings.current = None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    timings = _active
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        if timings is not None and fixturedef.scope != "function" and timings.current is not None:
            seconds = time.perf_counter() - started
            if fixturedef.argname in _FIXED:
                timings.shared_in[timings.current] = timings.shared_in.get(timings.current, 0.0) + seconds
            else:
                timings.add_shared(
                    f"fixture {fixturedef.argname}", f"{fixturedef.scope} scope", timings.current, seconds
                )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    timings = _active
    if timings is not None:
        timings.tests[item.nodeid] = timings.tests.get(item.nodeid, 0.0) + call.duration
    return (yield)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    timings = _active
    if timings is None:
        return
    limit = _threshold(config)
    slow = sorted(
        (
            (seconds - timings.shared_in.get(test, 0.0), test)
            for test, seconds in timings.tests.items()
            if test not in timings.marked
        ),
        reverse=True,
    )
    slow = [(seconds, test) for seconds, test in slow if seconds > limit]
    fixtures = sorted(timings.fixtures, key=lambda fixture: -fixture[3])
    if not slow and not fixtures:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"not marked slow, over {limit:g} s")
    for seconds, test in slow[:_SHOWN]:
        write(f"{seconds:6.2f}s {test}")
    if len(slow) > _SHOWN:
        write(f"        ... and {len(slow) - _SHOWN} more")
    for what, scope, test, seconds in fixtures[:_SHOWN]:
        write(f"{seconds:6.2f}s {what} ({scope}), first needed by {test}")
    write("Mark them @pytest.mark.slow (or make them cheaper) to keep `-m 'not slow'` quick.")


def _threshold(config: pytest.Config) -> float:
    return float(str(config.getini(_INI)))
