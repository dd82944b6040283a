"""Arithmetic expressions of the language: `state.balance + state.overdraft`, `command.quantity *
command.unit_price`, `len(state.lines)`. Written where a single reference was (a rule's side, an
emitted event's field, a state change), parsed here into `Expr` trees with their types, and
turned into Python by acci_gen.emit.python.exprs.

    expression := term (('+' | '-') term)*
    term       := factor (('*' | '/') factor)*
    factor     := <source>.<field> | number | len(<source>.<field>) | '(' expression ')'

Only required numbers take part (an optional one may be None); `/` always gives a decimal; an
int with an int gives an int; `len` takes a list or a string and gives an int.
"""

from __future__ import annotations

import re
from decimal import Decimal

from acci_gen.model import NUMERIC, Expr, TypeRef
from acci_gen.spec.checks.context import Context, Scopes
from acci_gen.spec.loader import PathT
from acci_gen.spec.values import UNCHECKED, fits

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<len>len)\s*\(|(?P<ref>[a-z]+\.[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/()]))"
)
#: Where an expression starts to differ from a single reference.
_MARKS = re.compile(r"[-+*/()]|^\s*\d|\blen\s*\(")

INT = TypeRef("int", "int")
DECIMAL = TypeRef("decimal", "decimal")


def is_expression(text: str) -> bool:
    """Whether `text` is more than one reference (an operator, a number, len(...))."""
    return _MARKS.search(text) is not None


class _Stop(Exception):
    """The expression has a problem (reported)."""


class _Parser:
    def __init__(self, ctx: Context, text: str, path: PathT, scopes: Scopes) -> None:
        self.ctx, self.text, self.path, self.scopes = ctx, text, path, scopes
        self.tokens: list[tuple[str, str]] = []
        position = 0
        stripped = text.rstrip()
        while position < len(stripped):
            match = _TOKEN.match(stripped, position)
            if match is None or match.end() == position:
                self.fail(
                    f"'{text}' cannot be read as an expression at '{stripped[position:].strip()}'.",
                    "write references, numbers, + - * /, parentheses and len(<reference>).",
                )
            assert match is not None  # fail() raises
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def fail(self, message: str, fix: str) -> None:
        self.ctx.error(self.path, message, fix)
        raise _Stop

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def expression(self) -> Expr:
        left = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            left = self.combine(left, self.take()[1], self.term())
        return left

    def term(self) -> Expr:
        left = self.factor()
        while self.peek() in (("op", "*"), ("op", "/")):
            left = self.combine(left, self.take()[1], self.factor())
        return left

    def factor(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            number: int | Decimal = Decimal(value) if "." in value else int(value)
            return Expr("literal", literal=number, type=DECIMAL if "." in value else INT)
        if kind == "ref":
            return self.reference(value)
        if kind == "len":
            ref_kind, ref = self.take()
            if ref_kind != "ref" or self.take() != ("op", ")"):
                self.fail(f"'{self.text}': len(...) takes one reference.", "write e.g. len(state.lines).")
            expr = self.reference(ref, numeric=False)
            assert expr.type is not None
            if not fits(expr.type.kind, ("list", "string", "email")):
                self.fail(
                    f"len({ref}) needs a list or a string; {ref} is {expr.type.text}.",
                    "take the length of a list or a string field.",
                )
            return Expr("len", args=[expr], type=INT)
        if (kind, value) == ("op", "("):
            inner = self.expression()
            if self.take() != ("op", ")"):
                self.fail(f"'{self.text}' has a '(' without its ')'.", "close every parenthesis.")
            return inner
        self.fail(
            f"'{self.text}' is not a complete expression.",
            "write a reference or a number on each side of + - * /.",
        )
        raise AssertionError  # fail() raises

    def reference(self, text: str, *, numeric: bool = True) -> Expr:
        expr = self.ctx.parse_ref(text, self.path, self.scopes)
        if expr is None:
            raise _Stop
        field = self.scopes[expr.source][expr.name]
        if field.optional:
            self.fail(
                f"{text} is optional: in '{self.text}' it may be None.",
                "use required fields in arithmetic.",
            )
        if numeric and not fits(field.type.kind, NUMERIC):
            self.fail(
                f"{text} is {field.type.text}, not a number: it cannot take part in '{self.text}'.",
                "use int or decimal fields in arithmetic.",
            )
        expr.type = field.type
        return expr

    def combine(self, left: Expr, operator: str, right: Expr) -> Expr:
        assert left.type is not None
        assert right.type is not None
        kinds = {left.type.kind, right.type.kind}
        result = DECIMAL if operator == "/" or "decimal" in kinds else INT
        if UNCHECKED in kinds:
            result = TypeRef(UNCHECKED, "number")
        return Expr("calc", operator=operator, args=[left, right], type=result)


def parse_expression(ctx: Context, text: str, path: PathT, scopes: Scopes) -> Expr | None:
    """The expression `text` with its type, or None (reported)."""
    try:
        parser = _Parser(ctx, text, path, scopes)
        expr = parser.expression()
        if parser.peek()[0] != "end":
            parser.fail(
                f"'{text}' has more after its end: '{parser.peek()[1]}'.",
                "join the parts with + - * /.",
            )
    except _Stop:
        return None
    return expr
