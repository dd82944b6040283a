"""Diagnostics: what is wrong, where (file:line:column and the path inside the document), and how
to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem found in a domain file. Lines and columns are 1-based.

    Every diagnostic says what is wrong and what to do: one with an empty message or fix is a bug
    in acci-gen, refused here rather than printed as `fix: .`.
    """

    file: str
    line: int
    col: int
    path: str
    message: str
    fix: str

    def __post_init__(self) -> None:
        for part in ("message", "fix"):
            text = getattr(self, part).strip().rstrip(".:").strip()
            if not text or text.endswith(":"):
                raise ValueError(f"a diagnostic needs a {part}: {self.message!r}, fix {self.fix!r}")
        if self.line < 1 or self.col < 1:
            raise ValueError(f"a diagnostic needs a position from 1:1 on, not {self.line}:{self.col}")

    def render(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: error{where}: {self.message}\n    fix: {self.fix}"


class DomainError(Exception):
    """Raised with every diagnostic of a run; nothing is written when it is raised."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(set(diagnostics))
        super().__init__(render_all(self.diagnostics))


def render_all(diagnostics: Iterable[Diagnostic]) -> str:
    items = list(diagnostics)
    lines = [d.render() for d in items]
    count = len(items)
    lines.append(f"{count} error{'s' if count != 1 else ''} found; nothing was written.")
    return "\n".join(lines)


class GenerationError(Exception):
    """A problem outside the domain files: a hand-edited generated file, an unwritable path."""
