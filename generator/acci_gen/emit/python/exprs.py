"""Expressions of the generated decisions and applications: where a value comes from (the command,
the state, the metadata, the event) or the literal it is."""

from __future__ import annotations

from acci_gen.emit.python.pytypes import value_of
from acci_gen.emit.text import Code
from acci_gen.model import Expr, Field


def expr_source(expr: Expr, target: Field | None, source: Field | None) -> Code:
    """The Python of `expr`, as a value for `target` (an int read into a decimal is converted)."""
    if expr.source == "literal":
        assert target is not None
        return value_of(expr.literal, target.type)
    if expr.source == "command":
        text = f"command.data.{expr.name}"
    elif expr.source == "metadata":
        text = "command.id" if expr.name == "command_id" else f"command.metadata.{expr.name}"
    else:
        text = f"{expr.source}.{expr.name}"
    if (
        target is not None
        and source is not None
        and (source.type.kind, target.type.kind) == ("int", "decimal")
    ):
        text = f"None if {text} is None else Decimal({text})" if source.optional else f"Decimal({text})"
    return Code(text)
