"""python -m bench [--full] [--only NAME ...] [--json PATH] [--profile SIDE]"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from acci.database import check_server, database_url

from bench.db import server_info
from bench.report import save_json, table, to_json
from bench.runner import SIDES, Options, Result, run_workload
from bench.settings import FULL, SHORT
from bench.workloads import ALL, select


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="ACCI's benchmarks, side by side with raw psycopg and the eventsourcing library. "
        "Uses ACCI_DATABASE_URL, else an embedded PostgreSQL; each workload gets a fresh database.",
        epilog="workloads: " + ", ".join(w.name for w in ALL),
    )
    parser.add_argument("--full", action="store_true", help="the full mode: medians of 3 (under 10 minutes)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this workload (or prefix); repeatable"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also save the results as JSON")
    parser.add_argument(
        "--profile", choices=SIDES, help="cProfile every variant of this side (slower; see --profile-dir)"
    )
    parser.add_argument(
        "--profile-dir", type=Path, default=Options.profile_dir, metavar="DIR", help="default: %(default)s"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = FULL if args.full else SHORT
    workloads = select(args.only)

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    # An embedded server over TCP: over its Unix socket, the eventsourcing library's batch insert
    # (one message of megabytes, in pipeline mode) hangs in libpq.
    with database_url(tcp=True) as url:
        check_server(url)
        info = server_info(url)
        options = Options(url, mode, args.profile, args.profile_dir)
        results: list[Result] = []
        for workload in workloads:
            log(f"{workload.name}: {workload.title}")
            results.append(run_workload(workload, options, log))
    load = (load_before, os.getloadavg()[0])
    print(table(results, mode, info, load))
    print(f"\n{len(results)} workloads in {time.perf_counter() - started:.0f} s")
    if args.json:
        save_json(args.json, to_json(results, mode, info, load))
        print(f"results saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
