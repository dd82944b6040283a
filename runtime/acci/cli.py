"""`acci`: the operator's command line for a service's event store and read models.

    acci [--url URL] [--app MODULE:ATTR] migrate            apply pending migrations
    acci ... migrations                                     list applied migrations
    acci ... projections status                             checkpoint, lag and dead letters, as a table
    acci ... projections run [NAME ...]                     run projections live until Ctrl-C
    acci ... projections rebuild (NAME ... | --all)         rebuild without downtime, with progress
    acci ... projections check NAME                         compare the read model with a fresh replay
    acci ... dead-letters list [NAME]                       list unresolved dead letters
    acci ... dead-letters replay NAME                       apply them again (resumes a halted projection)
    acci ... events upgrade                                 rewrite old events into their current version
    acci demo                                               walk through the guide's User example

--app (or ACCI_APP) names the service's acci.service.Service; --url (or ACCI_DATABASE_URL) the
database. Without a URL an embedded PostgreSQL is started for the command, which only suits `demo`.
Exit codes: 0 success, 1 the work failed or a check found differences, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from acci._progress import ProgressBar
from acci.database import configured_url, database_url
from acci.errors import AcciError, ConfigurationError
from acci.migrations import applied_migrations, migrate, runtime_migrations
from acci.projections import (
    Projection,
    ProjectionRunner,
    check_consistency,
    count_events,
    list_dead_letters,
    projection_status,
    rebuild,
    replay_dead_letters,
)
from acci.service import Service, load_service
from acci.store._pg_errors import translate
from acci.store.postgres import PostgresEventStore
from acci.upgrade import count_outdated, upgrade_events


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acci", description="Operate an ACCI service's event store and read models."
    )
    parser.add_argument("--url", help="PostgreSQL URL (default: ACCI_DATABASE_URL)")
    parser.add_argument("--app", help="the service, as module:attribute (default: ACCI_APP)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="apply pending migrations (the runtime's, then the service's)")
    commands.add_parser("migrations", help="list applied migrations")
    commands.add_parser("demo", help="walk through the guide's User example")

    projections = commands.add_parser("projections", help="status, run, rebuild, check").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    projections.add_parser("status", help="checkpoint, lag and dead letters of every projection")
    run = projections.add_parser("run", help="run projections live until interrupted")
    run.add_argument("names", nargs="*", help="projections to run (default: all)")
    again = projections.add_parser("rebuild", help="rebuild read models without downtime")
    again.add_argument("names", nargs="*")
    again.add_argument("--all", action="store_true", help="rebuild every projection")
    check = projections.add_parser("check", help="compare a read model with a fresh replay")
    check.add_argument("name")

    letters = commands.add_parser("dead-letters", help="list or replay dead letters").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = letters.add_parser("list", help="unresolved dead letters")
    listing.add_argument("name", nargs="?")
    replay = letters.add_parser("replay", help="apply a projection's dead letters again")
    replay.add_argument("name")
    events = commands.add_parser("events", help="offline work on stored events").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    events.add_parser("upgrade", help="rewrite events stored at old schema versions into the current ones")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from acci.demo import main as demo

            return demo()
        service = _service(args.app)
        with _url(args.url) as url:
            return asyncio.run(_dispatch(args, url, service))
    except AcciError as error:
        print(f"acci: error: {error}", file=sys.stderr)
        return 1
    except psycopg.Error as error:  # a path that did not translate its own: still one line
        print(f"acci: error: {translate(error, f'acci {args.command}')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _service(spec: str | None) -> Service | None:
    spec = spec or os.environ.get("ACCI_APP")
    return load_service(spec) if spec else None


def _need(service: Service | None) -> Service:
    if service is None:
        raise ConfigurationError(
            "this command needs the service: pass --app module:attribute or set ACCI_APP."
        )
    return service


@contextmanager
def _url(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    if configured_url() is None:
        print("ACCI_DATABASE_URL is not set: using an embedded PostgreSQL for this command.", file=sys.stderr)
    with database_url() as url:
        yield url


async def _dispatch(args: argparse.Namespace, url: str, service: Service | None) -> int:
    if args.command == "migrate":
        wanted = runtime_migrations() + list(service.migrations if service else [])
        applied = await migrate(url, wanted, progress=print)
        print(f"{len(applied)} migration(s) applied; the database is up to date.")
        return 0
    if args.command == "migrations":
        for component, version, name in await applied_migrations(url):
            print(f"{component:<20} {version:04d}_{name}")
        return 0
    service = _need(service)
    async with await PostgresEventStore.open(url, projections=service.projections) as store:
        if args.command == "projections":
            return await _projections(args, store, service)
        if args.command == "events":
            return await _upgrade(store, service)
        return await _dead_letters(args, store, service)


async def _upgrade(store: PostgresEventStore, service: Service) -> int:
    bar = ProgressBar("upgrading", await count_outdated(store, service.registry))
    result = await upgrade_events(store, service.registry, progress=bar.update)
    bar.finish(result.rewritten, "rewritten; originals kept in acci.event_rewrites")
    for line in result.failed:
        print(f"  not upgraded: {line}", file=sys.stderr)
    return 1 if result.failed else 0


async def _projections(args: argparse.Namespace, store: PostgresEventStore, service: Service) -> int:
    if args.action == "status":
        await _print_status(store, service.projections)
        return 0
    if args.action == "run":
        return await _run(store, _pick(service, args.names), service)
    if args.action == "rebuild":
        chosen = list(service.projections) if args.all else _pick(service, args.names, required=True)
        for projection in chosen:
            bar = ProgressBar(f"rebuilding {projection.name}", await count_events(store, projection))
            replayed = await rebuild(store, projection, progress=bar.phase_callback("replaying"))
            bar.finish(replayed, "replayed, then swapped in")
        return 0
    report = await check_consistency(store, service.projection(args.name))
    if report.consistent:
        print(f"{report.projection}: consistent at {report.position}")
        return 0
    print(f"{report.projection}: differs from a fresh replay at {report.position}")
    for row in report.only_live:
        print(f"  only in the read model: {row}")
    for row in report.only_replayed:
        print(f"  only in the replay:     {row}")
    print("Rebuild it with: acci projections rebuild " + report.projection)
    return 1


async def _dead_letters(args: argparse.Namespace, store: PostgresEventStore, service: Service) -> int:
    if args.action == "list":
        letters = await list_dead_letters(store, args.name)
        if not letters:
            print("no unresolved dead letters")
        for letter in letters:
            print(
                f"{letter.projection:<24} {letter.event_type:<24} {letter.event_id} at {letter.position} "
                f"tries={letter.attempts} last={letter.last_failed_at:%Y-%m-%d %H:%M:%S}\n    {letter.error}"
            )
        return 0
    result = await replay_dead_letters(store, service.projection(args.name))
    print(f"{args.name}: {result.replayed} replayed, {len(result.failed)} still failing")
    return 1 if result.failed else 0


def _pick(service: Service, names: Sequence[str], *, required: bool = False) -> list[Projection]:
    if not names:
        if required:
            raise ConfigurationError("name the projections to rebuild, or pass --all.")
        return list(service.projections)
    return [service.projection(name) for name in names]


async def _print_status(store: PostgresEventStore, projections: Sequence[Projection]) -> None:
    header = (
        f"{'projection':<24} {'status':<8} {'checkpoint':<16} {'lag (events)':>12} {'lag (s)':>9} {'dead':>5}"
    )
    print(header)
    print("-" * len(header))
    for projection in projections:
        s = await projection_status(store, projection)
        mode = "inline" if projection.inline else s.status
        print(
            f"{s.name:<24} {mode:<8} {s.position!s:<16} {s.lag_events:>12,} {s.lag_seconds:>9.1f} "
            f"{s.dead_letters:>5}"
        )


async def _run(store: PostgresEventStore, projections: Sequence[Projection], service: Service) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    live = [p for p in projections if not p.inline]
    print(f"running {', '.join(p.name for p in live) or 'nothing'}; Ctrl-C stops", file=sys.stderr)
    # The service's migrations name the one to run when a read model's table is missing.
    runners = [ProjectionRunner(store, p, migrations=service.migrations) for p in live]
    await asyncio.gather(*(runner.run(stop) for runner in runners))
    return 0


if __name__ == "__main__":
    sys.exit(main())
