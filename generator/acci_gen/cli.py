"""The acci-gen command line.

Exit codes:
  0  success (generate wrote the output; check found it up to date)
  1  check: the output on disk (or a lock file) is stale; generate: generated files were edited
     by hand (nothing was written; re-run with --force to overwrite them)
  2  the domain files have errors, a released event version changed, or a read-model change is
     destructive (nothing was written), or the command line is wrong, or the generator's
     extra is not installed (pip install 'acci[gen]')
  3  the output could not be written (each file is whole, old or new; run generate again)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from acci_gen import __version__
from acci_gen.errors import DomainError, GenerationError
from acci_gen.scaffold_cli import register as register_scaffold

if TYPE_CHECKING:
    from acci_gen.app import Run

#: The JSON Schema of the language, as shipped (`acci-gen schema` prints it).
SCHEMA_FILE = Path(__file__).with_name("schema") / "domain.schema.json"

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


#: The modules of the `gen` extra, by the distribution that provides them.
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']gen["']""")
_DIST_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _gen_extra() -> dict[str, str]:
    """The distributions of the `gen` extra, read from acci's own metadata (so the list cannot
    drift from pyproject.toml), by normalized name."""
    try:
        requirements = importlib.metadata.requires("acci") or []
    except importlib.metadata.PackageNotFoundError:  # imported from a source tree, not installed
        return {}
    names = (_DIST_NAME.match(r) for r in requirements if _EXTRA_MARKER.search(r))
    return {_normalized(n[1]): n[1] for n in names if n is not None and n[1] != "acci"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_extra() -> list[str]:
    """The distributions of the `gen` extra that are not installed."""
    missing = []
    for name in _gen_extra().values():
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def _extra_of_module(module: str) -> list[str]:
    """The distributions of the `gen` extra that provide the (top-level) module."""
    extra = _gen_extra()
    providers = importlib.metadata.packages_distributions().get(module, [module])
    return [extra[_normalized(d)] for d in providers if _normalized(d) in extra]


def _explain_missing(missing: list[str]) -> int:
    print(
        f"acci-gen: the generator's dependencies are not installed (missing: {', '.join(missing)}). "
        "Install acci with its generator extra: pip install 'acci[gen]'",
        file=sys.stderr,
    )
    return EXIT_INVALID


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    missing = missing_extra()
    if missing:
        return _explain_missing(missing)
    try:
        return _run(args)
    except ModuleNotFoundError as error:  # a module of the extra that is installed but cannot load
        missing = _extra_of_module((error.name or "").partition(".")[0])
        if missing:
            return _explain_missing(missing)
        raise


def _run(args: argparse.Namespace) -> int:
    # Imported here, after the extra was found: without it these imports would fail with a
    # traceback instead of the message above.
    from acci_gen.app import WriteError, domain_files, generate, prepare
    from acci_gen.spec.schema import json_schema_text

    handler = getattr(args, "handler", None)
    if handler is not None:  # new, upgrade, docs (acci_gen.scaffold_cli)
        return int(handler(args))
    if args.command == "schema":
        if args.path:
            print(SCHEMA_FILE)
        else:
            sys.stdout.write(json_schema_text())
        return EXIT_OK
    files = [Path(p) for p in args.domains] if args.domains else domain_files(Path(args.domains_dir))
    if not files:
        print(f"acci-gen: no domain files given and none found in {args.domains_dir}/.", file=sys.stderr)
        return EXIT_INVALID
    out = Path(args.out)
    try:
        if args.command == "check":
            return _check(prepare(files, out, allow_destructive=args.allow_destructive), len(files))
        result = generate(files, out, force=args.force, allow_destructive=args.allow_destructive)
    except DomainError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    except WriteError as error:
        print(f"acci-gen: {error}", file=sys.stderr)
        return EXIT_IO
    except GenerationError as error:
        print(f"acci-gen: {error}", file=sys.stderr)
        return EXIT_INVALID
    for line in result.report():
        print(line)
    if not result.written:
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
    return EXIT_OK


def _check(run: Run, count: int) -> int:
    """`acci-gen check`: compare what generate would write with the disk."""
    out, result = run.out, run.plan
    for rel in result.unused_stubs:
        print(f"note: {out / rel} is user-owned and no longer used; delete it if you do not need it.")
    stale = result.changes
    for lock in sorted(run.locks):
        print(f"stale: {lock} (new event versions are not recorded yet)")
    if run.locks and not stale:
        print("acci-gen: the lock files are out of date; run `acci-gen generate`.", file=sys.stderr)
        return EXIT_STALE
    if not stale:
        print(f"acci-gen: {out}/ is up to date with {count} domain file(s).")
        return EXIT_OK
    for rel in stale:
        kind = (
            "missing" if not (out / rel).exists() else ("removed item" if rel in result.delete else "stale")
        )
        print(f"{kind}: {out / rel}")
    for rel in result.edited:
        print(f"edited by hand: {out / rel}")
    print(f"acci-gen: {len(stale)} file(s) out of date; run `acci-gen generate`.", file=sys.stderr)
    return EXIT_STALE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
