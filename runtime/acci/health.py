"""Health checks (the guide's Monitoring section): a structured result a service can serve.

`check_health` is the full report (`acci` and the tests use it); `check_readiness` is what a
running service's /readyz answers: may this instance take traffic? (acci.monitoring serves it.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from acci.errors import AcciError
from acci.migrations import Migration
from acci.projections.base import Projection
from acci.projections.operations import ProjectionStatus, projection_status
from acci.store._pg_errors import database_errors
from acci.store.postgres import PostgresEventStore


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for a /health endpoint (serve it with status 200 if `ok`, else 503)."""
        return {"ok": self.ok, "checks": [asdict(check) for check in self.checks]}


async def check_health(
    store: PostgresEventStore,
    projections: Sequence[Projection] = (),
    *,
    max_event_age: timedelta | None = timedelta(minutes=5),
    max_lag_seconds: float = 60.0,
    max_lag_events: int | None = None,
    dead_letters_fail: bool = True,
    answer_within: float = 5.0,
) -> HealthReport:
    """Run every check; a check that cannot run fails with the reason, it never raises.

    - `store`: the database answers within `answer_within` seconds.
    - `recent_events`: the newest event is younger than `max_event_age` (the guide's check;
      None turns it off for services that may be quiet).
    - `projection:<name>:lag`: lag under `max_lag_seconds` (and `max_lag_events` if given).
    - `projection:<name>:dead_letters`: no unresolved dead letters (when `dead_letters_fail`).
    """
    checks = [await _store(store, answer_within)]
    if not checks[0].ok:
        return HealthReport(checks)
    if max_event_age is not None:
        checks.append(await _recent_events(store, max_event_age))
    for projection in projections:
        checks.extend(
            await _projection(store, projection, max_lag_seconds, max_lag_events, dead_letters_fail)
        )
    return HealthReport(checks)


async def _store(store: PostgresEventStore, seconds: float) -> CheckResult:
    try:
        async with asyncio.timeout(seconds):
            with database_errors("checking the event store"):
                async with store.pool.connection() as conn:
                    await conn.execute("SELECT 1")
    except (AcciError, TimeoutError) as error:
        return CheckResult("store", False, f"the event store does not answer: {error or 'timed out'}")
    return CheckResult("store", True, "the event store answers")


async def _recent_events(store: PostgresEventStore, max_age: timedelta) -> CheckResult:
    with database_errors("checking for recent events"):
        async with store.pool.connection() as conn:
            row = await (await conn.execute('SELECT max("timestamp") FROM acci.events')).fetchone()
    last = row[0] if row else None
    if last is None:
        return CheckResult("recent_events", True, "no events yet", {"last_event_at": None})
    age = datetime.now(UTC) - last
    data = {"last_event_at": last.isoformat(), "age_seconds": round(age.total_seconds(), 3)}
    if age > max_age:
        return CheckResult(
            "recent_events", False, f"no recent events: the newest is {age} old (limit {max_age})", data
        )
    return CheckResult("recent_events", True, f"the newest event is {age} old", data)


async def check_readiness(
    store: PostgresEventStore,
    projections: Sequence[Projection],
    migrations: Sequence[Migration],
    *,
    max_lag_seconds: float = 60.0,
    max_lag_events: int | None = None,
    answer_within: float = 5.0,
) -> HealthReport:
    """Whether the service is ready: the database answers, every one of `migrations` (the
    runtime's and each domain's) is applied, and no projection is halted or lags beyond the
    bounds. Dead letters of a projection that skips them do not make a service unready."""
    checks = [await _store(store, answer_within)]
    if checks[0].ok:
        checks.append(await _migrations(store, migrations))
    if all(check.ok for check in checks):
        for projection in projections:
            status = await _status(store, projection)
            if isinstance(status, CheckResult):
                checks.append(status)
            else:
                checks.append(_lag(projection, status, max_lag_seconds, max_lag_events))
    return HealthReport(checks)


async def _migrations(store: PostgresEventStore, wanted: Sequence[Migration]) -> CheckResult:
    with database_errors("reading the applied migrations"):
        async with store.pool.connection() as conn:
            exists = await (await conn.execute("SELECT to_regclass('acci.schema_migrations')")).fetchone()
            applied: set[tuple[str, int]] = set()
            if exists is not None and exists[0] is not None:
                cur = await conn.execute("SELECT component, version FROM acci.schema_migrations")
                applied = {(str(component), int(version)) for component, version in await cur.fetchall()}
    pending = [str(m) for m in wanted if (m.component, m.version) not in applied]
    if pending:
        return CheckResult(
            "migrations",
            False,
            f"{len(pending)} migration(s) not applied: {', '.join(pending)}; run the service's `migrate`",
            {"pending": pending},
        )
    return CheckResult("migrations", True, f"all {len(wanted)} migration(s) applied")


async def _status(store: PostgresEventStore, projection: Projection) -> ProjectionStatus | CheckResult:
    try:
        return await projection_status(store, projection)
    except AcciError as error:
        return CheckResult(f"projection:{projection.name}:lag", False, f"cannot read its status: {error}")


def _lag(
    projection: Projection, status: ProjectionStatus, max_lag_seconds: float, max_lag_events: int | None
) -> CheckResult:
    name = f"projection:{projection.name}:lag"
    data = {
        "lag_seconds": round(status.lag_seconds, 3),
        "lag_events": status.lag_events,
        "status": status.status,
    }
    if status.status != "running":
        return CheckResult(name, False, f"{projection.name} is {status.status}", data)
    too_old = status.lag_seconds > max_lag_seconds
    too_many = max_lag_events is not None and status.lag_events > max_lag_events
    if too_old or too_many:
        limits = f"{max_lag_seconds}s" + (
            f", {max_lag_events:,} events" if max_lag_events is not None else ""
        )
        lagging = f"{status.lag_events:,} events, {status.lag_seconds:.1f}s"
        return CheckResult(name, False, f"{projection.name} lags {lagging} (limits: {limits})", data)
    return CheckResult(name, True, f"{projection.name} lags {status.lag_events:,} events", data)


async def _projection(
    store: PostgresEventStore,
    projection: Projection,
    max_lag_seconds: float,
    max_lag_events: int | None,
    dead_letters_fail: bool,
) -> list[CheckResult]:
    status = await _status(store, projection)
    if isinstance(status, CheckResult):
        return [status]
    dead_ok = not (dead_letters_fail and status.dead_letters)
    dead = CheckResult(
        f"projection:{projection.name}:dead_letters",
        dead_ok,
        f"{status.dead_letters} unresolved dead letter(s)"
        + ("" if dead_ok else f"; see `acci dead-letters list {projection.name}`"),
        {"dead_letters": status.dead_letters},
    )
    return [_lag(projection, status, max_lag_seconds, max_lag_events), dead]
