"""No file of the repository holds a merge's conflict markers: a merge left half-resolved (docs
that state both sides of a conflict, code that does not parse) fails the suite, not only a reader.

Walks the directory rather than asking git, so that it runs in an unpacked sdist too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Build and tool output, not the project's files.
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", "dist", "build", ".mypy_cache", ".ruff_cache"}
# A marker as git writes it: at the start of a line, seven characters, then a space and a label
# (`=======` stands alone). Tests may hold markers inside string literals, never at a line's start.
MARKER = re.compile(r"^(<{7} \S.*|>{7} \S.*|={7})$", re.MULTILINE)


def _files(top: Path) -> list[Path]:
    found = []
    for path in sorted(top.iterdir()):
        if path.is_dir():
            if path.name not in SKIP_DIRS and not path.name.startswith(".pytest"):
                found += _files(path)
        elif path.is_file():
            found.append(path)
    return found


def conflict_markers(top: Path) -> list[str]:
    """`file:line: text` of every line that opens, separates or closes a merge conflict."""
    hits = []
    for path in _files(top):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # not text
        for match in MARKER.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            hits.append(f"{path.relative_to(top)}:{line}: {match.group(0)}")
    return hits


def test_no_file_holds_conflict_markers() -> None:
    hits = conflict_markers(ROOT)
    assert not hits, "resolve these merge conflicts:\n" + "\n".join(hits)


def test_the_markers_are_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("intro\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> write\n")
    (tmp_path / "b.py").write_text('EXAMPLE = "<<<<<<< before updating\\n"\n')  # in a literal: fine
    assert conflict_markers(tmp_path) == [
        "docs/a.md:2: <<<<<<< HEAD",
        "docs/a.md:4: =======",
        "docs/a.md:6: >>>>>>> write",
    ]
