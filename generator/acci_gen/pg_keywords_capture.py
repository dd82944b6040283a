"""Capture PostgreSQL's reserved key words into `acci_gen/pg_keywords.py`.

    python -m acci_gen.pg_keywords_capture postgresql://postgres@127.0.0.1:5432/postgres [URL ...]

Each server contributes the words `pg_get_keywords()` lists as reserved (catcode R) or reserved
but usable as a function or type name (T): neither can be a column name without quotes. The
versions already in the file are kept, so capturing a new major version adds to them.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from acci_gen.pg_keywords import RESERVED_BY_VERSION

TARGET = Path(__file__).with_name("pg_keywords.py")

#: The query the DB test runs too.
QUERY = "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T') ORDER BY word"


def capture(url: str) -> tuple[int, frozenset[str]]:
    """(major version, reserved words) of the server at `url`."""
    import psycopg

    with psycopg.connect(url) as conn:
        words = frozenset(row[0] for row in conn.execute(QUERY))
        return conn.info.server_version // 10000, words


def module_text(by_version: dict[int, frozenset[str]]) -> str:
    lines = [
        '"""PostgreSQL\'s reserved key words (pg_get_keywords() catcode R or T), by major version.',
        "",
        "Written by `python -m acci_gen.pg_keywords_capture URL...`; do not edit by hand.",
        '"""',
        "",
    ]
    for version in sorted(by_version):
        lines.append(f'_POSTGRESQL_{version} = """')
        lines += textwrap.wrap(" ".join(sorted(by_version[version])), 100)
        lines += ['"""', ""]
    items = ", ".join(f"{v}: frozenset(_POSTGRESQL_{v}.split())" for v in sorted(by_version))
    lines += [
        f"RESERVED_BY_VERSION: dict[int, frozenset[str]] = {{{items}}}",
        "",
        "#: Reserved in any of the versions: a name must work on every server ACCI supports.",
        "RESERVED: frozenset[str] = frozenset().union(*RESERVED_BY_VERSION.values())",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    urls = list(sys.argv[1:] if argv is None else argv)
    if not urls:
        print(__doc__, file=sys.stderr)
        return 2
    by_version = dict(RESERVED_BY_VERSION)
    for url in urls:
        version, words = capture(url)
        by_version[version] = words
        print(f"PostgreSQL {version}: {len(words)} reserved words")
    TARGET.write_text(module_text(by_version), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
