"""What the meaning checks share: where to report, the names declared so far, and the helpers that
several sections use (references, type compatibility, literals)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from acci_gen.errors import Diagnostic
from acci_gen.model import Aggregate, Event, Expr, Field, NamedType, TypeRef
from acci_gen.names import pascal_problem
from acci_gen.spec.loader import Document, PathT
from acci_gen.spec.shape import Shaped
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import UNCHECKED, fits, value_problem

_REF_RE = re.compile(r"^([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")

#: Fields in scope for a reference: source ("command", "event", ...) -> field name -> field.
Scopes = dict[str, dict[str, Field]]


@dataclass
class Context:
    """One document's checks: its diagnostics and the names declared in it."""

    doc: Document
    shaped: Shaped
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: Named types (enums and objects) by name, as far as checked.
    types: dict[str, NamedType] = field(default_factory=dict)
    #: PascalCase names: types, aggregates, events and commands share one namespace.
    names: dict[str, tuple[str, PathT]] = field(default_factory=dict)
    #: kind -> names declared with an invalid spelling (offered as suggestions).
    rejected: dict[str, list[str]] = field(default_factory=dict)
    #: Commands some of whose emitted events were refused (what they emit is not known).
    incomplete: set[str] = field(default_factory=set)
    #: Types that exist but may not be named where fields are being read (this domain's `types:`
    #: while a public shape is read), with why and the fix.
    hidden: dict[str, tuple[str, str]] = field(default_factory=dict)

    def error(self, path: PathT, message: str, fix: str, *, key: bool = False) -> None:
        if not self.doc.said(path):  # an unreadable value: the loader reported it
            self.diagnostics.append(self.doc.error(path, message, fix, key=key))

    def raw(self, path: PathT, default: Any = None) -> Any:
        """The value at `path` as the document has it (for the parts the model keeps as written),
        or `default` when it has none."""
        node = self.doc.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node

    def broken(self, section: str, name: str) -> bool:
        """Whether `name` is declared in `section` but left out for its shape errors (already
        reported: references to it are not reported again)."""
        return self.shaped.is_broken(section, name)

    def claim(self, name: str, kind: str, path: PathT) -> None:
        """Register a PascalCase name; types, aggregates, events and commands share one namespace."""
        if name in self.names:
            other_kind, other_path = self.names[name]
            line = self.doc.pos(other_path, key=True)[0]
            self.error(
                path,
                f"'{name}' is already the name of {_article(other_kind)} (line {line}).",
                f"give this {kind} another name.",
                key=True,
            )
            return
        self.names[name] = (kind, path)

    def check_pascal(self, name: str, kind: str, path: PathT) -> bool:
        problem = pascal_problem(name, kind)
        if problem:
            self.error(path, problem[0], problem[1], key=True)
            self.rejected.setdefault(kind, []).append(name)
            return False
        return True

    def parse_ref(self, text: str, path: PathT, scopes: Scopes) -> Expr | None:
        """A reference such as `command.email`, checked against the fields in scope."""
        match = _REF_RE.match(text.strip())
        sources = sorted(scopes)
        if not match:
            self.error(
                path,
                f"'{text}' is not a reference.",
                f"write <source>.<field> with a source of: {', '.join(sources)}; "
                "or {value: ...} for a literal.",
            )
            return None
        source, name = match.groups()
        if source not in scopes:
            self.error(
                path,
                f"'{source}' cannot be used here.",
                f"use one of: {', '.join(sources)}. " + did_you_mean(source, sources, what="sources"),
            )
            return None
        if name not in scopes[source]:
            self.error(
                path,
                f"'{source}.{name}' does not exist.",
                did_you_mean(name, scopes[source], what=f"{source} fields"),
            )
            return None
        return Expr(source, name)


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def is_ref(text: str) -> bool:
    return _REF_RE.match(text) is not None


_LITERAL_KINDS = ("string", "email", "int", "decimal", "bool", "enum")


def literal_problem(value: Any, field: Field, types: dict[str, NamedType]) -> str | None:
    """Why `value` cannot be a literal for `field` in generated code (or does not fit it)."""
    if field.type.kind == "list" and value == []:
        return None
    if not fits(field.type.kind, _LITERAL_KINDS) and value is not None:
        return f"literal {field.type.text} values are not supported here"
    return value_problem(value, field, types)


def compatible(source: TypeRef, target: TypeRef) -> bool:
    """Whether a value of `source` can be stored where `target` is declared."""
    if source == target or UNCHECKED in (source.kind, target.kind):
        return True
    if source.kind == "email" and target.kind == "string":
        return True
    return source.kind == "int" and target.kind == "decimal"


def mismatch(source: Field, target: Field) -> str | None:
    """Why a value of `source` cannot fill `target` ("may be None", "is a string"), or None."""
    if compatible(source.type, target.type) and not (source.optional and not target.optional):
        return None
    return "may be None" if compatible(source.type, target.type) else f"is a {source.type.text}"


def unset_state(event: Event, aggregate: Aggregate) -> list[str]:
    """Required state fields a first event leaves unset."""
    fields = {f.name: f for f in event.fields}
    done = set()
    for apply in event.applies:
        if apply.expr.op != "set":
            continue
        refs = apply.expr.refs()
        if any(ref.source != "event" for ref in refs):
            continue  # computed from the state: not set when there is none yet
        if all(not fields[ref.name].optional for ref in refs):
            done.add(apply.target)
    return [f.name for f in aggregate.state if f.required and f.name not in done]
