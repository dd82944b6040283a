"""Expressions of the generated decisions and applications: where a value comes from (the command,
the state, the metadata, the event), the literal it is, or arithmetic on those."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from acci_gen.emit.python.pytypes import decimal_value, value_of
from acci_gen.emit.text import Code, py_value
from acci_gen.model import Expr, Field, TypeRef

_INVERSE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "not in"}
_INVERSE["not in"] = "in"
#: How tightly each operator binds (for the parentheses a nested calc needs).
_BINDS = {"+": 1, "-": 1, "*": 2, "/": 2}


def expr_source(
    expr: Expr,
    target: Field | None,
    source: Field | None,
    state: Mapping[str, Code] | None = None,
    refs: Mapping[str, str] | None = None,
) -> Code:
    """The Python of `expr`, as a value for `target` (an int read into a decimal is converted).
    `state`, if given, is the Python of each state field's current value (in `evolve`); `refs`
    the Python of references spelled otherwise (`event.x` as `payload.x` in a projection)."""
    if expr.source == "object":  # a type of `types:` built from its fields' values
        parts = []
        for (key, ref), arg in zip(expr.literal, expr.args, strict=True):
            source = Field(key, arg.type) if arg.type is not None else None
            parts.append(f"{key}={expr_source(arg, Field(key, ref), source, state, refs)}")
        return Code(f"{expr.name}({', '.join(parts)})")
    if expr.source in ("calc", "len"):
        calc = _calc(expr, state, refs)
        int_to_decimal = expr.type is not None and expr.type.kind == "int"
        if target is not None and target.type.kind == "decimal" and int_to_decimal:
            return Code(f"Decimal({calc})")
        return calc
    if expr.source == "literal":
        if target is None:  # a number of an expression
            return (
                decimal_value(expr.literal) if isinstance(expr.literal, Decimal) else py_value(expr.literal)
            )
        return value_of(expr.literal, target.type)
    text: str
    if refs is not None and f"{expr.source}.{expr.name}" in refs:
        text = refs[f"{expr.source}.{expr.name}"]
    elif expr.source == "command":
        text = f"command.data.{expr.name}"
    elif expr.source == "metadata":
        text = "command.id" if expr.name == "command_id" else f"command.metadata.{expr.name}"
    elif expr.source == "state" and state is not None:
        text = str(state[expr.name])
    else:
        text = f"{expr.source}.{expr.name}"
    if (
        target is not None
        and source is not None
        and (source.type.kind, target.type.kind) == ("int", "decimal")
    ):
        text = f"None if {text} is None else Decimal({text})" if source.optional else f"Decimal({text})"
    return Code(text)


def _calc(expr: Expr, state: Mapping[str, Code] | None, refs: Mapping[str, str] | None = None) -> Code:
    if expr.source == "len":
        return Code(f"len({expr_source(expr.args[0], None, None, state, refs)})")
    left, right = expr.args
    texts = []
    for index, arg in enumerate((left, right)):
        text = (
            _calc(arg, state, refs)
            if arg.source in ("calc", "len")
            else expr_source(arg, None, None, state, refs)
        )
        if arg.source == "calc":
            looser = _BINDS[arg.operator] < _BINDS[expr.operator]
            same_on_right = index == 1 and _BINDS[arg.operator] == _BINDS[expr.operator]
            if looser or same_on_right:
                text = Code(f"({text})")
        texts.append(text)
    if expr.operator == "/" and all(a.type is not None and a.type.kind == "int" for a in (left, right)):
        texts[0] = Code(f"Decimal({texts[0]})")  # int / int is a float in Python
    return Code(f"{texts[0]} {expr.operator} {texts[1]}")


def needs_state(expr: Expr) -> bool:
    """Whether the expression reads the state."""
    return any(ref.source == "state" for ref in expr.refs())


def condition_source(
    left: Expr,
    op: str,
    right: Expr,
    left_type: TypeRef | None,
    *,
    negate: bool = False,
    refs: Mapping[str, str] | None = None,
) -> Code:
    """The Python test of `<left> <op> <right>` (or of its negation: a rule's refusal)."""
    left_code = expr_source(left, None, None, refs=refs)
    if right.source == "literal" and isinstance(right.literal, bool):
        wanted = right.literal if op == "==" else not right.literal
        return Code(f"not {left_code}" if wanted == negate else left_code)
    if right.source == "literal" and right.literal is None:
        is_none = (op == "==") != negate
        return Code(f"{left_code} {'is' if is_none else 'is not'} None")
    if right.source == "literal" and isinstance(right.literal, list) and left_type is not None:
        items = [value_of(v, left_type) for v in right.literal]
        right_code = Code(f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})")
    elif right.source == "literal" and left_type is not None:
        right_code = value_of(right.literal, left_type)
    else:
        right_code = expr_source(right, None, None, refs=refs)
    return Code(f"{left_code} {_INVERSE[op] if negate else op} {right_code}")
