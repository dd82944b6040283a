"""The `new`, `upgrade` and `docs` subcommands of acci-gen.

`register(subparsers)` adds them to acci-gen's parser; each sets `handler`, which `main` calls:

    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))

Exit codes follow acci-gen's: 0 success; 1 needs a person (an upgrade left conflicts, the docs
are stale); 2 it could not run (bad domain files, a service that cannot be updated, bad usage).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_ATTENTION, EXIT_FAILED = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = sub.add_parser(
        "new",
        help="create a service from the ACCI service template (copier)",
        description="Create a service in DIR: pyproject, a starter domain, the two README commands "
        "(./dev run, ./dev test), CI on PostgreSQL and the copier answers file; then generate its "
        "code and make it a git repository with a first commit, ready for `acci-gen upgrade`.",
    )
    new.add_argument("directory", metavar="DIR", help="a new (or empty) directory for the service")
    new.add_argument("--name", help="the service's name (default: the directory's name)")
    new.add_argument("--package", help="the Python package below src/ (default: from the name)")
    new.add_argument("--python", dest="python_version", help="the Python version (default: 3.11)")
    new.add_argument(
        "--database-url", help="PostgreSQL URL for ./dev run and ./dev test (default: an embedded server)"
    )
    new.add_argument(
        "--acci-requirement",
        help="how the service requires acci (default: acci==<this version>, from its wheels/)",
    )
    new.add_argument(
        "--template-source",
        help="a git URL or path of a template repository with version tags (default: the template "
        "this acci-gen ships, which every acci-gen can bring back for upgrades)",
    )
    new.add_argument("--vcs-ref", help="the --template-source tag to use (default: the newest)")
    new.add_argument(
        "--no-wheel",
        action="store_true",
        help="do not put the ACCI wheel into wheels/ (when ACCI comes from a package index)",
    )
    new.add_argument(
        "--acci-wheel",
        type=Path,
        help="the ACCI wheel to put into wheels/ (default: $ACCI_WHEEL, else this ACCI's, packed or built)",
    )
    new.add_argument("--no-generate", action="store_true", help="do not run acci-gen generate")
    new.add_argument("--no-git", action="store_true", help="do not git init and commit the service")
    new.add_argument("--trust", action="store_true", help="allow a --template-source with tasks")
    new.set_defaults(handler=run_new)

    upgrade = sub.add_parser(
        "upgrade",
        help="bring a newer template version into a service (copier update), then regenerate",
        description="Run copier update in the service: the newest template version comes in, the "
        "service's own edits are kept, and overlapping edits are reported as conflicts. The service "
        "must be committed first. Same as `copier update --trust --defaults --skip-answered && "
        "acci-gen generate`.",
    )
    upgrade.add_argument("directory", metavar="DIR", nargs="?", default=".", help="the service (default: .)")
    upgrade.add_argument(
        "--vcs-ref", help="for a service from a --template-source: the tag to update to (default: the newest)"
    )
    upgrade.add_argument(
        "--acci-wheel", type=Path, help="the ACCI wheel to put into wheels/ (default: as for `new`)"
    )
    upgrade.add_argument(
        "--conflict",
        choices=("inline", "rej"),
        default="inline",
        help="inline: conflict markers in the file (default); rej: the new version, and .rej files",
    )
    upgrade.add_argument("--context-lines", type=int, default=3, help="lines of context for merging")
    upgrade.add_argument("--no-generate", action="store_true", help="do not run acci-gen generate after")
    upgrade.add_argument("--trust", action="store_true", help="allow templates with tasks or migrations")
    upgrade.set_defaults(handler=run_upgrade)

    docs = sub.add_parser(
        "docs",
        help="write Markdown docs with Mermaid diagrams, one file per domain",
        description="Write <out>/<domain>.md: the flow from commands to events to projections to "
        "queries, a state diagram per aggregate, and the event catalogue with JSON Schemas.",
    )
    docs.add_argument(
        "domains", nargs="*", metavar="DOMAIN.yaml", help="domain files (default: domains/*.yaml)"
    )
    docs.add_argument(
        "--domains-dir", default="domains", help="where to find domain files (default: domains)"
    )
    docs.add_argument(
        "--out", default="docs/generated", help="the output directory (default: docs/generated)"
    )
    docs.add_argument("--check", action="store_true", help="write nothing; exit 1 when the docs are stale")
    docs.set_defaults(handler=run_docs)


def run_new(args: argparse.Namespace) -> int:
    from acci_gen.scaffold import ScaffoldError, new_service
    from acci_gen.scaffold_git import GitError

    answers = {
        key: value
        for key, value in (
            ("project_name", args.name),
            ("package", args.package),
            ("python_version", args.python_version),
            ("database_url", args.database_url),
            ("acci_requirement", args.acci_requirement),
        )
        if value is not None
    }
    try:
        target = new_service(
            Path(args.directory),
            data=answers,
            template_source=args.template_source,
            vcs_ref=args.vcs_ref,
            generate=not args.no_generate,
            git_init=not args.no_git,
            trust=args.trust,
            wheel=not args.no_wheel,
            acci_wheel_file=args.acci_wheel,
        )
    except (ScaffoldError, GitError) as error:
        print(f"acci-gen new: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Created the service in {target}. Next:")
    print(f"  cd {args.directory}")
    print("  ./dev test    # set up .venv, generate, lint and run the tests")
    print("  ./dev run     # run the service")
    return EXIT_OK


def run_upgrade(args: argparse.Namespace) -> int:
    from acci_gen.scaffold import ScaffoldError, generate_service, upgrade_service
    from acci_gen.scaffold_git import GitError

    target = Path(args.directory)
    try:
        result = upgrade_service(
            target,
            vcs_ref=args.vcs_ref,
            conflict=args.conflict,
            context_lines=args.context_lines,
            trust=args.trust,
            acci_wheel_file=args.acci_wheel,
        )
    except (ScaffoldError, GitError) as error:
        print(f"acci-gen upgrade: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(result.report())
    if not result.ok:
        return EXIT_ATTENTION
    if not args.no_generate:
        try:
            generate_service(target)
        except ScaffoldError as error:
            print(f"acci-gen upgrade: {error}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def run_docs(args: argparse.Namespace) -> int:
    from acci_gen.docs_gen import render_docs, write_docs
    from acci_gen.errors import DomainError

    if args.domains:
        files = [Path(p) for p in args.domains]
    else:
        folder = Path(args.domains_dir)
        files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        print(f"acci-gen docs: no domain files given and none found in {args.domains_dir}/.", file=sys.stderr)
        return EXIT_FAILED
    out = Path(args.out)
    try:
        if args.check:
            stale = [
                out / name
                for name, text in render_docs(files).items()
                if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
            ]
            for path in stale:
                print(f"stale: {path}")
            if stale:
                print(
                    f"acci-gen docs: {len(stale)} file(s) out of date; run `acci-gen docs`.", file=sys.stderr
                )
                return EXIT_ATTENTION
            print(f"acci-gen docs: {out}/ is up to date with {len(files)} domain file(s).")
            return EXIT_OK
        for path in write_docs(files, out):
            print(f"wrote {path}")
    except DomainError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
