"""`acci`: the operator's command line for a service's event store.

    acci migrate [--dir COMPONENT=PATH ...]   apply pending migrations (the runtime's first)
    acci migrations                          list applied migrations
    acci demo                                run the User walkthrough

The database is ACCI_DATABASE_URL (or --url); with neither, an embedded PostgreSQL is started
for the command, which is only useful for `demo`.
Exit codes: 0 success, 1 the work failed (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from acci.database import configured_url, database_url
from acci.errors import AcciError
from acci.migrations import Migration, applied_migrations, load_migrations, migrate, runtime_migrations


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acci", description="Operate an ACCI event store.")
    parser.add_argument("--url", help="PostgreSQL URL (default: ACCI_DATABASE_URL)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("migrate", help="apply pending migrations")
    run.add_argument(
        "--dir",
        action="append",
        default=[],
        metavar="COMPONENT=PATH",
        help="also apply the numbered .sql files in PATH as COMPONENT (repeatable)",
    )
    commands.add_parser("migrations", help="list applied migrations")
    commands.add_parser("demo", help="walk through the guide's User example")
    return parser


@contextmanager
def _url(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    if configured_url() is None:
        print("ACCI_DATABASE_URL is not set: using an embedded PostgreSQL for this command.", file=sys.stderr)
    with database_url() as url:
        yield url


def _migrations(dirs: list[str]) -> list[Migration]:
    wanted = runtime_migrations()
    for spec in dirs:
        component, sep, path = spec.partition("=")
        if not sep:
            raise AcciError(
                f"--dir {spec!r}: write COMPONENT=PATH, for example identity=generated/identity/migrations"
            )
        wanted += load_migrations(component, Path(path))
    return wanted


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from acci.demo import main as demo

            return demo()
        with _url(args.url) as url:
            if args.command == "migrate":
                applied = asyncio.run(migrate(url, _migrations(args.dir), progress=print))
                print(f"{len(applied)} migration(s) applied; the database is up to date.")
            else:
                for component, version, name in asyncio.run(applied_migrations(url)):
                    print(f"{component:<20} {version:04d}_{name}")
    except AcciError as error:
        print(f"acci: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
