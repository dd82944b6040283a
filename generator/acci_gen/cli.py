"""The acci-gen command line.

Exit codes:
  0  success (generate wrote the output; check found it up to date)
  1  check: the output on disk (or a lock file) is stale; generate: generated files were edited
     by hand (nothing was written; re-run with --force to overwrite them)
  2  the domain files have errors, a released event version changed, or a read-model change is
     destructive (nothing was written), or the command line is wrong
  3  the output could not be written (each file is whole, old or new; run generate again)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from acci_gen import __version__
from acci_gen.errors import DomainError, GenerationError
from acci_gen.language import json_schema_text
from acci_gen.scaffold_cli import register as register_scaffold

EXIT_OK, EXIT_STALE, EXIT_INVALID, EXIT_IO = 0, 1, 2, 3

_EPILOG = """exit codes:
  0  success
  1  check: the output is stale (run `acci-gen generate`); generate: generated files were
     edited by hand, nothing was written (move the edits elsewhere, or use --force)
  2  the domain files have errors (each is printed with file:line:column and a fix), or the
     command line is wrong; nothing was written
  3  the output could not be written (every file is whole, old or new); fix the cause and
     run generate again
"""


def _domain_files(args: argparse.Namespace) -> list[Path]:
    if args.domains:
        return [Path(p) for p in args.domains]
    return sorted(Path(args.domains_dir).glob("*.yaml")) + sorted(Path(args.domains_dir).glob("*.yml"))


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "domains", nargs="*", metavar="DOMAIN.yaml", help="domain files (default: domains/*.yaml)"
    )
    parser.add_argument(
        "--domains-dir", default="domains", help="where to find domain files (default: domains)"
    )
    parser.add_argument("--out", default="generated", help="the output directory (default: generated)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acci-gen",
        description="Generate typed events, aggregates, command handlers and tests from ACCI domain files.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"acci-gen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    generate = sub.add_parser(
        "generate",
        help="validate the domain files and write the output",
        description="Validate the domain files and write their packages below --out. Files of removed "
        "items are deleted; user-owned stubs are created once and never overwritten.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(generate)
    generate.add_argument("--force", action="store_true", help="overwrite generated files edited by hand")
    generate.add_argument(
        "--allow-destructive",
        action="store_true",
        help="write a read-model migration that drops or retypes columns (a projection rebuild is "
        "usually the better answer)",
    )
    check = sub.add_parser(
        "check",
        help="validate, and fail when the output on disk is stale (for CI)",
        description="Validate the domain files and compare what generate would write with the disk; "
        "nothing is written. Exit 1 when the output is stale.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(check)
    check.add_argument(
        "--allow-destructive", action="store_true", help="accept destructive read-model changes"
    )
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of the domain language",
        description="Print the JSON Schema of domain files (for editors). --path prints where the "
        "installed copy lives instead.",
    )
    schema.add_argument("--path", action="store_true", help="print the path of the shipped schema file")
    register_scaffold(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is not None:  # new, upgrade, docs (acci_gen.scaffold_cli)
        return int(handler(args))
    if args.command == "schema":
        if args.path:
            print(Path(__file__).with_name("schema") / "domain.schema.json")
        else:
            sys.stdout.write(json_schema_text())
        return EXIT_OK
    from acci_gen.app import prepare
    from acci_gen.output import apply, atomic_write

    files = _domain_files(args)
    if not files:
        print(f"acci-gen: no domain files given and none found in {args.domains_dir}/.", file=sys.stderr)
        return EXIT_INVALID
    out = Path(args.out)
    try:
        run = prepare(files, out, allow_destructive=args.allow_destructive)
    except DomainError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    except GenerationError as error:
        print(f"acci-gen: {error}", file=sys.stderr)
        return EXIT_INVALID
    result = run.plan
    for rel in result.unused_stubs:
        print(f"note: {out / rel} is user-owned and no longer used; delete it if you do not need it.")
    if args.command == "check":
        stale = result.changes
        for lock in sorted(run.locks):
            print(f"stale: {lock} (new event versions are not recorded yet)")
        if run.locks and not stale:
            print("acci-gen: the lock files are out of date; run `acci-gen generate`.", file=sys.stderr)
            return EXIT_STALE
        if not stale:
            print(f"acci-gen: {out}/ is up to date with {len(files)} domain file(s).")
            return EXIT_OK
        for rel in stale:
            kind = (
                "missing"
                if not (out / rel).exists()
                else ("removed item" if rel in result.delete else "stale")
            )
            print(f"{kind}: {out / rel}")
        for rel in result.edited:
            print(f"edited by hand: {out / rel}")
        print(f"acci-gen: {len(stale)} file(s) out of date; run `acci-gen generate`.", file=sys.stderr)
        return EXIT_STALE
    if result.edited and not args.force:
        for rel in result.edited:
            print(
                f"{out / rel}: this generated file was edited by hand; acci-gen left it alone.",
                file=sys.stderr,
            )
        print(
            "acci-gen: nothing was written. Move hand-written code to the user-owned modules "
            "(custom/), then re-run; or pass --force to overwrite the edits.",
            file=sys.stderr,
        )
        return EXIT_STALE
    try:
        apply(out, result)
        for lock, text in sorted(run.locks.items()):
            atomic_write(lock, text)
    except OSError as error:
        print(
            f"acci-gen: could not write the output: {error}. Every file is either as before or complete; "
            "fix the cause and run `acci-gen generate` again.",
            file=sys.stderr,
        )
        return EXIT_IO
    for rel in sorted(result.write):
        print(f"wrote {out / rel}")
    migrations = set(run.new_migrations)
    for rel in sorted(result.create):
        if rel in migrations:
            print(f"created {out / rel} (a read-model migration: commit it; never edit it once applied)")
        else:
            print(f"created {out / rel} (user-owned: edit it, acci-gen will not overwrite it)")
    for lock in sorted(run.locks):
        print(f"recorded the released event shapes in {lock} (commit it)")
    for rel in result.delete:
        print(f"deleted {out / rel}")
    if not result.changes:
        print(f"acci-gen: {out}/ was already up to date.")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
