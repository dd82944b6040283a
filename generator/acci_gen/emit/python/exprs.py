"""Small Python fragments the templates need: import blocks, expressions and name spellings."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from acci_gen.emit.python.pytypes import decimal_literal, literal
from acci_gen.model import Expr, Field, TypeRef

LINE = 110


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order, as ruff sorts names: Thing2 before Thing10."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


def _name_key(name: str) -> tuple[int, tuple[tuple[int, int | str], ...], str]:
    # ruff's isort with order-by-type: CONSTANTS, then Classes, then functions and variables.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return (kind, _natural(name.lower()), name)


def from_import(module: str, names: Iterable[str]) -> str:
    ordered = sorted(set(names), key=_name_key)
    line = f"from {module} import {', '.join(ordered)}"
    if len(line) <= LINE:
        return line
    body = "".join(f"    {name},\n" for name in ordered)
    return f"from {module} import (\n{body})"


class Imports:
    """Collects imports and writes them in ruff's isort order: stdlib, third party, local."""

    STDLIB = frozenset({"collections.abc", "datetime", "decimal", "enum", "importlib", "typing", "uuid"})

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.names: defaultdict[str, set[str]] = defaultdict(set)

    def add(self, module: str, *names: str) -> None:
        if names:
            self.names[module].update(names)
        else:
            self.modules.add(module)

    def render(self) -> str:
        def group(selected: Iterable[str], plain: Iterable[str]) -> list[str]:
            lines = [f"import {m}" for m in sorted(plain)]
            return lines + [from_import(m, self.names[m]) for m in sorted(selected)]

        std = group(
            [m for m in self.names if m in self.STDLIB], [m for m in self.modules if m in self.STDLIB]
        )
        third = group(
            [m for m in self.names if m not in self.STDLIB and not m.startswith(".")],
            [m for m in self.modules if m not in self.STDLIB],
        )
        local = group(sorted((m for m in self.names if m.startswith(".")), key=_relative_key), [])
        return "\n\n".join("\n".join(g) for g in (std, third, local) if g)


def _relative_key(module: str) -> tuple[int, str]:
    # isort puts farther parents first: `from ..x` before `from .y`.
    depth = len(module) - len(module.lstrip("."))
    return (-depth, module)


def value_source(value: object, ref: TypeRef, imports: Imports) -> str:
    """A literal of the given type as Python source."""
    if value is None:
        return "None"
    if ref.kind == "enum":
        return f"{ref.name}.{value}"
    if ref.kind == "decimal":
        imports.add("decimal", "Decimal")
        return decimal_literal(value)
    return literal(value)


def expr_source(expr: Expr, target: Field | None, source: Field | None, imports: Imports) -> str:
    """An expression of a command decision or an event application."""
    if expr.source == "literal":
        assert target is not None
        return value_source(expr.literal, target.type, imports)
    if expr.source == "command":
        text = f"data.{expr.name}"
    elif expr.source == "metadata":
        text = "command.id" if expr.name == "command_id" else f"command.metadata.{expr.name}"
    else:
        text = f"{expr.source}.{expr.name}"
    if (
        target is not None
        and source is not None
        and source.type.kind == "int"
        and target.type.kind == "decimal"
    ):
        imports.add("decimal", "Decimal")
        text = f"None if {text} is None else Decimal({text})" if source.optional else f"Decimal({text})"
    return text
