"""From a loaded document to a validated Domain, collecting every problem on the way.

Shape (keys, types of values) and meaning (references, type compatibility, names) are checked
in one pass per section; nothing stops at the first error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from acci_gen import language as L  # noqa: N812
from acci_gen.errors import Diagnostic
from acci_gen.evolution.compat import MODES as COMPATIBILITY_MODES
from acci_gen.evolution.compat import check_event as check_compatibility
from acci_gen.evolution.parse import parse_versions
from acci_gen.loader import Document, PathT
from acci_gen.model import (
    MISSING,
    NUMERIC,
    SCALARS,
    Aggregate,
    Apply,
    Command,
    Domain,
    Emit,
    Event,
    Expr,
    Field,
    NamedType,
    Projection,
    Query,
    Rule,
    Scenario,
    TypeRef,
)
from acci_gen.names import (
    column_problems,
    enum_value_problem,
    field_problem,
    generated_class_problems,
    module_problem,
    parameter_problems,
    pascal_problem,
    query_problem,
    snake_problem,
)
from acci_gen.suggest import did_you_mean
from acci_gen.values import value_problem

_LIST_RE = re.compile(r"^list\[\s*([A-Za-z][A-Za-z0-9_]*)\s*\]$")
_REF_RE = re.compile(r"^([a-z]+)\.([A-Za-z_][A-Za-z0-9_]*)$")
_CONDITION_RE = re.compile(r"^\s*(\S+)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_ORDER_RE = re.compile(r"^([a-z][a-z0-9_]*)(?:\s+(asc|desc))?$")
_EMAIL_TYPE = "email"


class Validator:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self.types: dict[str, NamedType] = {}
        self.names: dict[str, tuple[str, PathT]] = {}  # PascalCase name -> (kind, path)
        self.rejected: dict[str, list[str]] = {}  # kind -> names declared with an invalid spelling

    # -- helpers -----------------------------------------------------------------------------

    def error(self, path: PathT, message: str, fix: str = "", *, key: bool = False) -> None:
        self.diagnostics.append(self.doc.error(path, message, fix, key=key))

    def mapping(self, value: Any, path: PathT, what: str, *, allow_none: bool = True) -> dict[str, Any]:
        if value is None and allow_none:
            return {}
        if not isinstance(value, dict):
            self.error(
                path,
                f"{what} must be a mapping (key: value lines), not {_kind(value)}.",
                f"write {what} as indented 'key: value' lines.",
            )
            return {}
        return value

    def keys(
        self,
        node: dict[str, Any],
        path: PathT,
        allowed: Iterable[str],
        what: str,
        required: Iterable[str] = (),
    ) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key not in allowed:
                self.error(
                    (*path, key),
                    f"'{key}' is not a key of {what}.",
                    did_you_mean(key, allowed, what="keys"),
                    key=True,
                )
        for key in required:
            if key not in node:
                self.error(path, f"{what} needs the key '{key}'.", f"add '{key}:' to it.", key=True)

    def text(self, node: dict[str, Any], key: str, path: PathT) -> str:
        value = node.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.error((*path, key), f"'{key}' must be text, not {_kind(value)}.", "quote the value.")
            return ""
        return value

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

    # -- fields ------------------------------------------------------------------------------

    def parse_type(self, value: Any, path: PathT) -> TypeRef | None:
        known = [*SCALARS, *sorted(self.types), "list[<type>]"]
        if not isinstance(value, str):
            self.error(
                path, f"a type must be a name, not {_kind(value)}.", f"use one of: {', '.join(known)}."
            )
            return None
        text = value.strip()
        match = _LIST_RE.match(text)
        if match:
            item = self.parse_type(match.group(1), path)
            if item is None:
                return None
            if item.kind == "list":
                self.error(
                    path, "lists of lists are not supported.", "wrap the inner list in an object type."
                )
                return None
            return TypeRef("list", item.name, item)
        if text in SCALARS:
            return TypeRef(text, text)
        named = self.types.get(text)
        if named is not None:
            return TypeRef("enum" if named.is_enum else "object", text)
        self.error(path, f"unknown type '{text}'.", did_you_mean(text, known, what="types"))
        return None

    def parse_fields(self, value: Any, path: PathT, what: str = "field") -> list[Field]:
        node = self.mapping(value, path, f"the {what}s")
        fields: list[Field] = []
        for name, spec in node.items():
            fpath = (*path, name)
            problem = field_problem(name, what, sql=what != "parameter")
            if problem:
                self.error(fpath, problem[0], problem[1], key=True)
                continue
            parsed = self.parse_field(name, spec, fpath)
            if parsed is not None:
                fields.append(parsed)
        return fields

    def parse_field(self, name: str, spec: Any, path: PathT) -> Field | None:
        if isinstance(spec, str):
            ref = self.parse_type(spec, path)
            return Field(name, ref) if ref else None
        if not isinstance(spec, dict):
            self.error(
                path,
                f"field '{name}' must be a type name or a mapping with 'type:', not {_kind(spec)}.",
                f"write '{name}: string' or '{name}: {{type: string, max_length: 100}}'.",
            )
            return None
        self.keys(spec, path, L.FIELD, f"field '{name}'", required=("type",))
        if "type" not in spec:
            return None
        ref = self.parse_type(spec["type"], (*path, "type"))
        if ref is None:
            return None
        field = Field(name, ref, description=self.text(spec, "description", path))
        optional = spec.get("optional", False)
        if not isinstance(optional, bool):
            self.error((*path, "optional"), "'optional' must be true or false.", "write 'optional: true'.")
        else:
            field.optional = optional
        self._constraints(field, spec, path)
        if "default" in spec:
            self._default(field, spec["default"], (*path, "default"))
        if "example" in spec:
            problem = value_problem(spec["example"], field, self.types)
            if problem:
                self.error(
                    (*path, "example"),
                    f"the example does not fit the field: {problem}.",
                    "give an example that fits the type and the constraints.",
                )
            else:
                field.example = spec["example"]
        if field.pattern is not None and field.example is MISSING:
            self.error(
                (*path, "pattern"),
                f"field '{name}' has a pattern but no example.",
                "add 'example:' with a value that matches the pattern (the generated tests use it).",
                key=True,
            )
        return field

    def _constraints(self, field: Field, spec: dict[str, Any], path: PathT) -> None:
        kind = field.type.kind
        groups = {
            ("min", "max"): kind in NUMERIC,
            ("min_length", "max_length"): kind in ("string", _EMAIL_TYPE),
            ("pattern",): kind == "string",
            ("min_items", "max_items"): kind == "list",
        }
        for keys, applies in groups.items():
            for key in keys:
                if key not in spec:
                    continue
                value = spec[key]
                kpath = (*path, key)
                if not applies:
                    self.error(
                        kpath,
                        f"'{key}' does not apply to a field of type {field.type.text}.",
                        f"remove '{key}', or change the type.",
                        key=True,
                    )
                    continue
                if key == "pattern":
                    if not isinstance(value, str):
                        self.error(kpath, "'pattern' must be a regular expression in quotes.", "quote it.")
                        continue
                    try:
                        re.compile(value)
                    except re.error as error:
                        self.error(
                            kpath,
                            f"the pattern is not a valid regular expression: {error}.",
                            "fix the regular expression.",
                        )
                        continue
                    field.pattern = value
                elif key in ("min", "max"):
                    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                    if kind == "int":
                        ok = isinstance(value, int) and not isinstance(value, bool)
                    if not ok:
                        self.error(
                            kpath,
                            f"'{key}' must be a number{' (an integer)' if kind == 'int' else ''}.",
                            f"write '{key}: 0'.",
                        )
                        continue
                    setattr(field, "minimum" if key == "min" else "maximum", value)
                else:
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        self.error(
                            kpath, f"'{key}' must be a whole number of at least 0.", f"write '{key}: 1'."
                        )
                        continue
                    setattr(field, key, value)
        for low, high in (("minimum", "maximum"), ("min_length", "max_length"), ("min_items", "max_items")):
            lo, hi = getattr(field, low), getattr(field, high)
            if lo is not None and hi is not None and lo > hi:
                key = {"minimum": "min", "maximum": "max"}.get(low, low)
                self.error(
                    (*path, key),
                    f"the lower bound {lo} is greater than the upper bound {hi}.",
                    "swap or correct the bounds.",
                    key=True,
                )

    def _default(self, field: Field, value: Any, path: PathT) -> None:
        field.default = value  # even when wrong: later checks must not report a missing value
        kind = field.type.kind
        if kind == "object":
            self.error(path, "an object field cannot have a default.", "make it 'optional: true' instead.")
            return
        if kind == "list" and value != []:
            self.error(path, "a list can only default to the empty list [].", "write 'default: []'.")
            return
        if kind in ("date", "datetime", "uuid"):
            self.error(
                path,
                f"a {kind} field cannot have a default (it would be the same for everyone).",
                "make it 'optional: true', or map it from the command or metadata.",
            )
            return
        problem = value_problem(value, field, self.types)
        if problem:
            self.error(
                path, f"the default does not fit the field: {problem}.", "give a default of the field's type."
            )
            return
        field.default = value

    # -- sections ----------------------------------------------------------------------------

    def run(self) -> Domain | None:
        root = self.doc.data
        if not isinstance(root, dict):
            self.error(
                (),
                f"a domain file must be a mapping with 'domain:', 'aggregates:'... at the top, "
                f"not {_kind(root)}.",
                "start the file with 'domain: <name>'.",
            )
            return None
        self.keys(root, (), L.TOP, "a domain file", required=("domain",))
        name = root.get("domain")
        domain = Domain(name=name if isinstance(name, str) else "", source=self.doc.file)
        if "domain" in root:
            if not isinstance(name, str):
                self.error(("domain",), "'domain' must be a name.", "write 'domain: identity'.")
            else:
                problem = module_problem(name)
                if problem:
                    self.error(("domain",), problem[0], problem[1])
        domain.description = self.text(root, "description", ())
        compatibility = root.get("compatibility", domain.compatibility)
        if compatibility not in COMPATIBILITY_MODES:
            self.error(
                ("compatibility",),
                f"'{compatibility}' is not a compatibility mode.",
                did_you_mean(str(compatibility), COMPATIBILITY_MODES, what="modes"),
            )
        else:
            domain.compatibility = compatibility
        self.parse_types(root.get("types"), domain)
        self.parse_aggregates(root.get("aggregates"), domain)
        self.parse_events(root.get("events"), domain)
        self.parse_commands(root.get("commands"), domain)
        self.parse_projections(root.get("projections"), domain)
        self.parse_queries(root.get("queries"), domain)
        self.parse_scenarios(root.get("scenarios"), domain)
        self.check_coverage(domain)
        for path, message, fix in generated_class_problems(domain):
            self.error(path, message, fix, key=True)
        for event in domain.events:
            for issue in check_compatibility(event, event.versions, domain.compatibility):
                self.error(issue.path, issue.message, issue.fix)
        return domain

    def parse_types(self, value: Any, domain: Domain) -> None:
        node = self.mapping(value, ("types",), "'types'")
        pending: list[tuple[NamedType, Any, PathT]] = []
        for name, spec in node.items():
            path: PathT = ("types", name)
            if not self.check_pascal(name, "type", path):
                continue
            self.claim(name, "type", path)
            body = self.mapping(spec, path, f"type '{name}'", allow_none=False)
            self.keys(body, path, L.NAMED_TYPE, f"type '{name}'")
            named = NamedType(name, self.text(body, "description", path))
            if ("enum" in body) == ("fields" in body):
                self.error(
                    path,
                    f"type '{name}' needs exactly one of 'enum:' (an enum) or 'fields:' (an object).",
                    "add 'enum: [a, b]' or 'fields: {...}'.",
                    key=True,
                )
                continue
            if "enum" in body:
                named.values = self.enum_values(body["enum"], (*path, "enum"))
            else:
                pending.append((named, body["fields"], (*path, "fields")))
            self.types[name] = named
            domain.types.append(named)
        for named, fields, path in pending:
            named.fields = self.parse_fields(fields, path)
            for field in named.fields:
                if field.type.name == named.name:
                    self.error(
                        (*path, field.name),
                        f"type '{named.name}' contains itself.",
                        "break the cycle with another type.",
                    )

    def enum_values(self, value: Any, path: PathT) -> list[str]:
        if not isinstance(value, list) or not value:
            self.error(
                path, "'enum' must be a non-empty list of values.", "write 'enum: [active, disabled]'."
            )
            return []
        values: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.error(
                    (*path, index), f"enum values must be names, not {_kind(item)}.", "quote or rename it."
                )
                continue
            problem = enum_value_problem(item)
            if problem:
                self.error((*path, index), problem[0], problem[1])
            elif item in values:
                self.error((*path, index), f"the enum value '{item}' appears twice.", "remove one of them.")
            else:
                values.append(item)
        return values

    def parse_aggregates(self, value: Any, domain: Domain) -> None:
        node = self.mapping(value, ("aggregates",), "'aggregates'")
        for name, spec in node.items():
            path: PathT = ("aggregates", name)
            if not self.check_pascal(name, "aggregate", path):
                continue
            self.claim(name, "aggregate", path)
            self.claim(f"{name}State", "generated state class", path)
            body = self.mapping(spec, path, f"aggregate '{name}'", allow_none=False)
            self.keys(body, path, L.AGGREGATE, f"aggregate '{name}'", required=("identity", "state"))
            state = self.parse_fields(body.get("state"), (*path, "state"), "state field")
            aggregate = Aggregate(name, "", state, self.text(body, "description", path))
            identity = body.get("identity")
            if "identity" in body and "state" in body:
                field = aggregate.field(identity) if isinstance(identity, str) else None
                if field is None:
                    self.error(
                        (*path, "identity"),
                        f"the identity '{identity}' is not a state field of {name}.",
                        did_you_mean(str(identity), [f.name for f in state], what="state fields"),
                    )
                elif not field.required or field.type.kind not in ("string", "uuid", "int", _EMAIL_TYPE):
                    self.error(
                        (*path, "identity"),
                        f"the identity field '{identity}' must be a required string, uuid or int.",
                        "remove 'optional'/'default' from it, or pick another field.",
                    )
                else:
                    aggregate.identity = field.name
            snap = body.get("snapshot_every")
            if snap is not None:
                if not isinstance(snap, int) or isinstance(snap, bool) or snap < 1:
                    self.error(
                        (*path, "snapshot_every"),
                        "'snapshot_every' must be a whole number of at least 1.",
                        "write 'snapshot_every: 100', or remove it for no snapshots.",
                    )
                else:
                    aggregate.snapshot_every = snap
            domain.aggregates.append(aggregate)

    def aggregate_ref(self, value: Any, path: PathT, domain: Domain) -> Aggregate | None:
        if not isinstance(value, str):
            self.error(path, "'aggregate' must be the name of an aggregate.", "write 'aggregate: User'.")
            return None
        aggregate = domain.aggregate(value)
        if aggregate is None:
            known = [a.name for a in domain.aggregates] + self.rejected.get("aggregate", [])
            self.error(path, f"unknown aggregate '{value}'.", did_you_mean(value, known, what="aggregates"))
        return aggregate

    def parse_events(self, value: Any, domain: Domain) -> None:
        node = self.mapping(value, ("events",), "'events'")
        pending: list[tuple[Event, Aggregate, dict[str, Any], PathT]] = []
        for name, spec in node.items():
            path: PathT = ("events", name)
            if not self.check_pascal(name, "event", path):
                continue
            self.claim(name, "event", path)
            body = self.mapping(spec, path, f"event '{name}'", allow_none=False)
            self.keys(body, path, L.EVENT, f"event '{name}'", required=("aggregate",))
            aggregate = (
                self.aggregate_ref(body.get("aggregate"), (*path, "aggregate"), domain)
                if "aggregate" in body
                else None
            )
            fields = self.parse_fields(body.get("fields"), (*path, "fields"))
            event = Event(
                name,
                aggregate.name if aggregate else "",
                fields,
                description=self.text(body, "description", path),
            )
            version = body.get("version", 1)
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                self.error(
                    (*path, "version"),
                    "'version' must be a whole number of at least 1.",
                    "write 'version: 1'.",
                )
            else:
                event.version = version
            if "versions" in body:
                event.versions = parse_versions(self, event, body["versions"], (*path, "versions"))
            domain.events.append(event)
            if aggregate is not None:
                pending.append((event, aggregate, body, path))
        for event, aggregate, body, path in pending:
            self.parse_apply(event, aggregate, body, path)

    def parse_apply(self, event: Event, aggregate: Aggregate, body: dict[str, Any], path: PathT) -> None:
        explicit: dict[str, Any] = body["apply"] if isinstance(body.get("apply"), dict) else {}
        for field in event.fields:
            target = aggregate.field(field.name)
            if target is None or field.name in explicit:
                continue
            if not _compatible(field.type, target.type):
                self.error(
                    (*path, "fields", field.name),
                    f"{event.name}.{field.name} ({field.type.text}) would be copied to the state field "
                    f"{aggregate.name}.{field.name}, which is a {target.type.text}.",
                    f"give them the same type, or say under 'apply:' how {event.name} changes "
                    f"'{field.name}'.",
                    key=True,
                )
                continue
            event.applies.append(Apply(field.name, Expr("event", field.name)))
        if "apply" not in body:
            return
        apath = (*path, "apply")
        node = self.mapping(body["apply"], apath, "'apply'")
        state_names = [f.name for f in aggregate.state]
        for target_name, spec in node.items():
            tpath = (*apath, target_name)
            target = aggregate.field(target_name)
            if target is None:
                self.error(
                    tpath,
                    f"'{target_name}' is not a state field of {aggregate.name}.",
                    did_you_mean(target_name, state_names, what="state fields"),
                    key=True,
                )
                continue
            op, ref = "set", spec
            if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in L.APPLY_OPS:
                op, ref = next(iter(spec.items()))
                if op == "value":
                    problem = _literal_problem(ref, target, self.types)
                    if problem:
                        self.error(
                            (*tpath, "value"),
                            f"the value does not fit {aggregate.name}.{target_name}: {problem}.",
                            "give a value of the state field's type.",
                        )
                    else:
                        event.applies.append(Apply(target_name, Expr("literal", literal=ref)))
                    continue
                tpath = (*tpath, op)
            if not isinstance(ref, str):
                self.error(
                    tpath,
                    f"how {event.name} changes '{target_name}' must be 'event.<field>', "
                    f"{{value: ...}}, {{add: event.<field>}}, {{subtract: ...}} or {{append: ...}}.",
                    "write e.g. 'email: event.email' or 'balance: {add: event.amount}'.",
                )
                continue
            expr = self.parse_ref(ref, tpath, {"event": {f.name: f for f in event.fields}})
            if expr is None:
                continue
            expr.op = op
            source = event.field(expr.name)
            assert source is not None
            self.check_apply_types(event, aggregate, target, source, op, tpath)
            event.applies.append(Apply(target_name, expr))

    def check_apply_types(
        self, event: Event, aggregate: Aggregate, target: Field, source: Field, op: str, path: PathT
    ) -> None:
        where = f"{aggregate.name}.{target.name} ({target.type.text})"
        what = f"event.{source.name} ({source.type.text})"
        if op == "set":
            ok = _compatible(source.type, target.type)
            if ok and source.optional and target.optional:
                ok = True
        elif op in ("add", "subtract"):
            ok = (
                target.type.kind in NUMERIC
                and source.type.kind in NUMERIC
                and not (target.type.kind == "int" and source.type.kind == "decimal")
            )
            if ok and (source.optional or target.optional):
                self.error(
                    path,
                    f"cannot {op} {what} to {where}: optional numbers may be None.",
                    "make both fields required.",
                )
                return
        else:  # append
            ok = (
                target.type.kind == "list"
                and target.type.item is not None
                and (_compatible(source.type, target.type.item) or source.type == target.type)
            )
            if ok and source.optional:
                self.error(
                    path, f"cannot append the optional {what} to {where}.", "make the event field required."
                )
                return
        if not ok:
            self.error(
                path,
                f"{event.name} cannot {op} {what} {'to' if op != 'set' else 'into'} {where}: "
                "the types do not fit.",
                "map a field of a compatible type, or change one of the types.",
            )

    def parse_ref(self, text: str, path: PathT, scopes: dict[str, dict[str, Any]]) -> Expr | None:
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

    def parse_commands(self, value: Any, domain: Domain) -> None:
        node = self.mapping(value, ("commands",), "'commands'")
        for name, spec in node.items():
            path: PathT = ("commands", name)
            if not self.check_pascal(name, "command", path):
                continue
            self.claim(name, "command", path)
            self.claim(f"{name}Handler", "generated handler class", path)
            body = self.mapping(spec, path, f"command '{name}'", allow_none=False)
            self.keys(body, path, L.COMMAND, f"command '{name}'", required=("aggregate", "emits"))
            aggregate = (
                self.aggregate_ref(body.get("aggregate"), (*path, "aggregate"), domain)
                if "aggregate" in body
                else None
            )
            fields = self.parse_fields(body.get("fields"), (*path, "fields"))
            command = Command(
                name,
                aggregate.name if aggregate else "",
                fields,
                description=self.text(body, "description", path),
            )
            domain.commands.append(command)
            precondition = body.get("precondition", "none")
            if precondition not in L.PRECONDITIONS:
                self.error(
                    (*path, "precondition"),
                    f"unknown precondition {precondition!r}.",
                    did_you_mean(str(precondition), L.PRECONDITIONS, what="preconditions"),
                )
            else:
                command.precondition = precondition
            decide = body.get("decide", "mapped")
            if decide not in L.DECIDE:
                self.error(
                    (*path, "decide"),
                    f"unknown decision kind {decide!r}.",
                    "write 'decide: custom' for a hand-written decision, or leave it out.",
                )
            command.custom = decide == "custom"
            if aggregate is None:
                continue
            self.check_identity(command, aggregate, path)
            scopes = self.command_scopes(command, aggregate)
            for index, rule in enumerate(
                self.list_of(body.get("requires"), (*path, "requires"), "'requires'")
            ):
                parsed = self.parse_rule(rule, (*path, "requires", index), scopes, command)
                if parsed is not None:
                    if any(r.code == parsed.code for r in command.rules):
                        self.error(
                            (*path, "requires", index, "code"),
                            f"the code '{parsed.code}' is used twice.",
                            "give each rule its own code.",
                        )
                    command.rules.append(parsed)
            if "emits" in body:
                self.parse_emits(command, aggregate, body["emits"], (*path, "emits"), scopes, domain)

    def list_of(self, value: Any, path: PathT, what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(
                path, f"{what} must be a list ('- item' lines), not {_kind(value)}.", "write it as a list."
            )
            return []
        return value

    def check_identity(self, command: Command, aggregate: Aggregate, path: PathT) -> None:
        if not aggregate.identity:
            return
        field = command.field(aggregate.identity)
        ident = aggregate.field(aggregate.identity)
        assert ident is not None
        if field is None:
            self.error(
                (*path, "fields"),
                f"command {command.name} has no field '{aggregate.identity}', the identity "
                f"of {aggregate.name}, so it cannot say which {aggregate.name} it is for.",
                f"add '{aggregate.identity}: {ident.type.text}' to its fields.",
                key=True,
            )
        elif not field.required or not _compatible(field.type, ident.type):
            self.error(
                (*path, "fields", aggregate.identity),
                f"{command.name}.{aggregate.identity} must be a required {ident.type.text}, "
                f"like the identity of {aggregate.name}.",
                f"declare it as '{aggregate.identity}: {ident.type.text}'.",
                key=True,
            )

    def command_scopes(self, command: Command, aggregate: Aggregate) -> dict[str, dict[str, Any]]:
        scopes: dict[str, dict[str, Any]] = {
            "command": {f.name: f for f in command.fields},
            "metadata": {k: Field(k, TypeRef(v, v)) for k, v in L.METADATA_FIELDS.items()},
        }
        if command.precondition == "must_exist":
            scopes["state"] = {f.name: f for f in aggregate.state}
        return scopes

    def parse_rule(
        self, node: Any, path: PathT, scopes: dict[str, dict[str, Any]], command: Command
    ) -> Rule | None:
        body = self.mapping(node, path, "a rule", allow_none=False)
        if not body:
            return None
        self.keys(body, path, L.RULE, "a rule", required=("condition", "code"))
        code = body.get("code")
        if not isinstance(code, str) or snake_problem(code, "code"):
            if "code" in body:
                self.error(
                    (*path, "code"),
                    f"the code {code!r} must be a snake_case name.",
                    "write e.g. 'code: insufficient_funds'.",
                )
            return None
        if code in L.BUILTIN_ERRORS:
            self.error((*path, "code"), f"'{code}' is a built-in error code.", "pick a more specific code.")
        condition = body.get("condition")
        if not isinstance(condition, str):
            return None
        cpath = (*path, "condition")
        match = _CONDITION_RE.match(condition)
        if not match:
            self.error(
                cpath,
                f"the condition '{condition}' is not '<reference> <op> <reference or value>'.",
                "write e.g. 'state.balance >= command.amount' (ops: == != < <= > >=).",
            )
            return None
        left_text, op, right_text = match.groups()
        if left_text.startswith("state.") and "state" not in scopes:
            self.error(
                cpath,
                f"{command.name} reads the state, but the aggregate may not exist yet.",
                "add 'precondition: must_exist' to the command.",
            )
            return None
        left = self.parse_ref(left_text, cpath, scopes)
        if left is None:
            return None
        lfield = scopes[left.source][left.name]
        right: Expr | None
        if _REF_RE.match(right_text) and right_text.split(".")[0] in ("command", "state", "metadata"):
            if right_text.startswith("state.") and "state" not in scopes:
                self.error(
                    cpath,
                    f"{command.name} reads the state, but the aggregate may not exist yet.",
                    "add 'precondition: must_exist' to the command.",
                )
                return None
            right = self.parse_ref(right_text, cpath, scopes)
            if right is None:
                return None
            rfield = scopes[right.source][right.name]
            if not (_compatible(rfield.type, lfield.type) or _compatible(lfield.type, rfield.type)):
                self.error(
                    cpath,
                    f"cannot compare {left_text} ({lfield.type.text}) with {right_text} "
                    f"({rfield.type.text}).",
                    "compare values of the same type.",
                )
                return None
            optional = lfield.optional or rfield.optional
        else:
            try:
                literal = yaml.safe_load(right_text)
            except yaml.YAMLError:
                literal = right_text
            probe = Field("value", lfield.type, optional=op in ("==", "!="))
            problem = _literal_problem(literal, probe, self.types)
            if problem:
                self.error(
                    cpath,
                    f"the value {right_text} cannot be compared with {left_text}: {problem}.",
                    "compare with a value of the field's type (quote text: 'active').",
                )
                return None
            right = Expr("literal", literal=literal)
            optional = lfield.optional
        if op not in ("==", "!=") and (lfield.type.kind not in (*NUMERIC, "date", "datetime") or optional):
            self.error(
                cpath,
                f"'{op}' needs required numbers, dates or times; {left_text} is "
                f"{'optional ' if lfield.optional else ''}{lfield.type.text}.",
                "use == or !=, or compare numbers.",
            )
            return None
        message = self.text(body, "message", path) or f"{command.name} requires {condition.strip()}"
        return Rule(left, op, right, code, message, condition.strip())

    def parse_emits(
        self,
        command: Command,
        aggregate: Aggregate,
        value: Any,
        path: PathT,
        scopes: dict[str, dict[str, Any]],
        domain: Domain,
    ) -> None:
        items = [value] if isinstance(value, str) else self.list_of(value, path, "'emits'")
        if not items:
            self.error(
                path, f"{command.name} must emit at least one event.", "list the event under 'emits:'."
            )
        events = [e.name for e in domain.events]
        for index, item in enumerate(items):
            ipath = path if isinstance(value, str) else (*path, index)
            mapping: dict[str, Any] = {}
            if isinstance(item, dict):
                self.keys(item, ipath, L.EMIT, "an emitted event", required=("event",))
                mapping = self.mapping(item.get("map"), (*ipath, "map"), "'map'")
                if mapping and command.custom:
                    self.error(
                        (*ipath, "map"),
                        "a custom decision builds its events itself; 'map' is not used.",
                        "remove 'map', or remove 'decide: custom'.",
                        key=True,
                    )
                name = item.get("event")
                epath = (*ipath, "event")
            else:
                name, epath = item, ipath
            if not isinstance(name, str):
                self.error(epath, "an emitted event must be named.", "write '- UserCreated'.")
                continue
            event = domain.event(name)
            if event is None:
                self.error(
                    epath,
                    f"{command.name} emits '{name}', which is not an event.",
                    did_you_mean(name, events, what="events"),
                )
                continue
            if event.aggregate and event.aggregate != aggregate.name:
                self.error(
                    epath,
                    f"{name} belongs to {event.aggregate}, but {command.name} is for {aggregate.name}.",
                    f"emit an event of {aggregate.name}, or change the command's aggregate.",
                )
                continue
            if any(e.event == name for e in command.emits):
                self.error(epath, f"{command.name} emits {name} twice.", "list it once.")
                continue
            emit = Emit(name, [])
            command.emits.append(emit)
            if command.custom:
                continue
            self.map_event(command, event, emit, mapping, (*ipath, "map"), scopes)
        if command.emits and command.precondition != "must_exist":
            first = domain.event(command.emits[0].event)
            if first is not None and not command.custom and first.aggregate == aggregate.name:
                missing = _unset_state(first, aggregate)
                if missing:
                    self.error(
                        path,
                        f"{command.name} may create a new {aggregate.name}, but its first event "
                        f"{first.name} does not set the state field{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)}.",
                        f"add {', '.join(missing)} to {first.name} (or to its 'apply:'), give the state "
                        "field a default, or set 'precondition: must_exist'.",
                    )

    def map_event(
        self,
        command: Command,
        event: Event,
        emit: Emit,
        mapping: dict[str, Any],
        path: PathT,
        scopes: dict[str, dict[str, Any]],
    ) -> None:
        for key in mapping:
            if event.field(key) is None:
                self.error(
                    (*path, key),
                    f"{event.name} has no field '{key}'.",
                    did_you_mean(key, [f.name for f in event.fields], what=f"fields of {event.name}"),
                    key=True,
                )
        for field in event.fields:
            fpath = (*path, field.name)
            if field.name in mapping:
                spec = mapping[field.name]
                if isinstance(spec, dict) and set(spec) == {"value"}:
                    problem = _literal_problem(spec["value"], field, self.types)
                    if problem:
                        self.error(
                            (*fpath, "value"),
                            f"the value does not fit {event.name}.{field.name}: {problem}.",
                            "give a value of the field's type, or map it from the command or the metadata.",
                        )
                    else:
                        emit.mapping.append((field.name, Expr("literal", literal=spec["value"])))
                    continue
                if not isinstance(spec, str):
                    self.error(
                        fpath,
                        f"the value of {event.name}.{field.name} must be a reference such as "
                        "'command.x', 'state.x', 'metadata.user_id', or {value: ...}.",
                        "write e.g. 'created_by: metadata.user_id'.",
                    )
                    continue
                if spec.startswith("state.") and "state" not in scopes:
                    self.error(
                        fpath,
                        f"{command.name} reads the state, but the aggregate may not exist yet.",
                        "add 'precondition: must_exist' to the command.",
                    )
                    continue
                expr = self.parse_ref(spec, fpath, scopes)
                if expr is None:
                    continue
            elif field.name in scopes["command"]:
                expr = Expr("command", field.name)
            elif "state" in scopes and field.name in scopes["state"]:
                expr = Expr("state", field.name)
            else:
                if field.required:
                    sources = (
                        "neither the command nor the state has" if "state" in scopes else "the command has no"
                    )
                    self.error(
                        path if mapping else path[:-1],
                        f"{command.name} gives no value for {event.name}.{field.name}: {sources} "
                        f"field '{field.name}'.",
                        f"add 'map: {{{field.name}: command.<field>}}' (or metadata.<field>, "
                        "{value: ...}) to this emitted event, or add the field to the command.",
                    )
                continue
            source = scopes[expr.source][expr.name]
            if not _compatible(source.type, field.type) or (source.optional and not field.optional):
                why = (
                    "may be None"
                    if source.optional and _compatible(source.type, field.type)
                    else (f"is a {source.type.text}")
                )
                self.error(
                    fpath if field.name in mapping else path[:-1],
                    f"{expr.source}.{expr.name} {why}, but {event.name}.{field.name} is "
                    f"{'an optional ' if field.optional else 'a required '}{field.type.text}.",
                    f"map a {field.type.text} to it, or change one of the field types.",
                )
                continue
            emit.mapping.append((field.name, expr))

    # -- projections and queries (language and validation only) -------------------------------

    def parse_projections(self, value: Any, domain: Domain) -> None:
        node = self.mapping(value, ("projections",), "'projections'")
        tables: dict[str, PathT] = {}
        for name, spec in node.items():
            path: PathT = ("projections", name)
            problem = snake_problem(name, "projection")
            if problem:
                self.error(path, problem[0], problem[1], key=True)
                continue
            body = self.mapping(spec, path, f"projection '{name}'", allow_none=False)
            self.keys(body, path, L.PROJECTION, f"projection '{name}'", required=("key", "columns", "on"))
            table = body.get("table", name)
            if not isinstance(table, str) or snake_problem(table, "table"):
                problem = snake_problem(str(table), "table") or ("the table must be a name.", "")
                self.error((*path, "table"), problem[0], problem[1])
            elif table in tables:
                self.error(
                    (*path, "table"),
                    f"the table '{table}' is already used by another projection.",
                    "give each projection its own table.",
                )
            else:
                tables[table] = path
            columns = self.parse_fields(body.get("columns"), (*path, "columns"), "column")
            for name_, message, fix in column_problems(c.name for c in columns):
                self.error((*path, "columns", name_), message, fix, key=True)
            for column in columns:
                if column.type.kind in ("object", "list"):
                    self.error(
                        (*path, "columns", column.name),
                        f"the column '{column.name}' must be a scalar or an enum, not {column.type.text}.",
                        "flatten it into scalar columns.",
                        key=True,
                    )
            by_name = {c.name: c for c in columns}
            key = body.get("key")
            if "key" in body and key not in by_name:
                self.error(
                    (*path, "key"),
                    f"the key '{key}' is not a column of {name}.",
                    did_you_mean(str(key), by_name, what="columns"),
                )
                key = None
            projection = Projection(
                name,
                table if isinstance(table, str) else name,
                key or "",
                columns,
                {},
                self.text(body, "description", path),
            )
            inline = body.get("inline", False)
            if not isinstance(inline, bool):
                self.error((*path, "inline"), "'inline' must be true or false.", "write 'inline: true'.")
            else:
                projection.inline = inline
            domain.projections.append(projection)
            on = self.mapping(body.get("on"), (*path, "on"), "'on'")
            for event_name, handler in on.items():
                self.parse_projection_handler(
                    projection, by_name, event_name, handler, (*path, "on", event_name), domain
                )

    def parse_projection_handler(
        self,
        projection: Projection,
        columns: dict[str, Field],
        event_name: str,
        handler: Any,
        path: PathT,
        domain: Domain,
    ) -> None:
        event = domain.event(event_name)
        if event is None:
            self.error(
                path,
                f"the projection {projection.name} handles '{event_name}', which is not an event.",
                did_you_mean(event_name, [e.name for e in domain.events], what="events"),
                key=True,
            )
            return
        body = self.mapping(handler, path, f"the handler of {event_name}", allow_none=False)
        self.keys(body, path, L.PROJECTION_HANDLER, f"the handler of {event_name}")
        actions = [a for a in L.PROJECTION_ACTIONS if a in body]
        if len(actions) != 1:
            self.error(
                path,
                f"the handler of {event_name} needs exactly one of: {', '.join(L.PROJECTION_ACTIONS)}.",
                "write e.g. 'insert: {id: event.user_id}'.",
                key=True,
            )
            return
        action = actions[0]
        if action == "custom":
            if body["custom"] is not True or set(body) != {"custom"}:
                self.error(
                    (*path, "custom"),
                    "a hand-written handler is 'custom: true' alone.",
                    "write 'custom: true' and change the table in custom/projections.py.",
                )
                return
            projection.handlers[event_name] = body
            return
        scopes: dict[str, dict[str, Any]] = {
            "event": {f.name: f for f in event.fields},
            "envelope": {k: Field(k, TypeRef(v, v)) for k, v in L.ENVELOPE_FIELDS.items()},
        }
        if action != "delete":
            values = self.mapping(body[action], (*path, action), f"'{action}'")
            for column_name, spec in values.items():
                cpath = (*path, action, column_name)
                column = columns.get(column_name)
                if column is None:
                    self.error(
                        cpath,
                        f"'{column_name}' is not a column of {projection.name}.",
                        did_you_mean(column_name, columns, what="columns"),
                        key=True,
                    )
                    continue
                self.check_value_expr(
                    spec,
                    column,
                    cpath,
                    scopes,
                    f"{projection.name}.{column_name}",
                    partial=action == "update",
                )
            if action in ("insert", "upsert"):
                for column in columns.values():
                    if column.required and column.name not in values:
                        self.error(
                            (*path, action),
                            f"'{action}' gives no value for the required column '{column.name}'.",
                            f"add '{column.name}: event.<field>' or make the column optional.",
                            key=True,
                        )
        elif body["delete"] is not True:
            self.error((*path, "delete"), "'delete' must be true.", "write 'delete: true'.")
        # The handler as written (validated above): {action: values, key?: expr}.
        projection.handlers[event_name] = body
        if action != "insert" and projection.key:
            key_column = columns[projection.key]
            spec = body.get("key", f"event.{projection.key}")
            if "key" not in body and projection.key not in scopes["event"]:
                self.error(
                    path,
                    f"{event_name} has no field '{projection.key}' to find the row of {projection.name} by.",
                    "add 'key: event.<field>' to the handler.",
                    key=True,
                )
                return
            self.check_value_expr(spec, key_column, (*path, "key"), scopes, f"the key of {projection.name}")

    def check_value_expr(
        self,
        spec: Any,
        target: Field,
        path: PathT,
        scopes: dict[str, dict[str, Any]],
        what: str,
        *,
        partial: bool = False,
    ) -> None:
        """Check a value mapped to `target`. With `partial` (updates) an optional source is allowed:
        the target then changes only when the value is present."""
        if isinstance(spec, dict) and set(spec) == {"value"}:
            problem = value_problem(spec["value"], target, self.types)
            if problem:
                self.error(
                    (*path, "value"),
                    f"the value does not fit {what}: {problem}.",
                    "give a value of its type.",
                )
            return
        if not isinstance(spec, str):
            self.error(
                path,
                f"the value of {what} must be a reference or {{value: ...}}.",
                f"write e.g. 'event.<field>' (sources: {', '.join(sorted(scopes))}).",
            )
            return
        expr = self.parse_ref(spec, path, scopes)
        if expr is None:
            return
        source = scopes[expr.source][expr.name]
        if not _compatible(source.type, target.type) or (
            source.optional and not target.optional and not partial
        ):
            self.error(
                path,
                f"{spec} ({'optional ' if source.optional else ''}{source.type.text}) does not fit "
                f"{what} ({target.type.text}).",
                "map a value of a compatible type.",
            )

    def parse_queries(self, value: Any, domain: Domain) -> None:
        node = self.mapping(value, ("queries",), "'queries'")
        projections = {p.name: p for p in domain.projections}
        for name, spec in node.items():
            path: PathT = ("queries", name)
            problem = query_problem(name)
            if problem:
                self.error(path, problem[0], problem[1], key=True)
                continue
            body = self.mapping(spec, path, f"query '{name}'", allow_none=False)
            self.keys(body, path, L.QUERY, f"query '{name}'", required=("projection",))
            params = self.parse_fields(body.get("params"), (*path, "params"), "parameter")
            pname = body.get("projection")
            projection = projections.get(pname) if isinstance(pname, str) else None
            if "projection" in body and projection is None:
                self.error(
                    (*path, "projection"),
                    f"unknown projection '{pname}'.",
                    did_you_mean(str(pname), projections, what="projections"),
                )
            returns = body.get("returns", "many")
            if returns not in L.RETURNS:
                self.error(
                    (*path, "returns"),
                    f"'returns' must be 'one' or 'many', not {returns!r}.",
                    "write 'returns: one' for a single row.",
                )
            query = Query(
                name,
                pname if isinstance(pname, str) else "",
                params,
                [],
                [],
                None,
                None,
                returns if returns in L.RETURNS else "many",
                self.text(body, "description", path),
            )
            domain.queries.append(query)
            if projection is None:
                continue
            columns = {c.name: c for c in projection.columns}
            by_param = {p.name: p for p in params}
            for index, item in enumerate(self.list_of(body.get("filter"), (*path, "filter"), "'filter'")):
                self.check_filter(item, (*path, "filter", index), columns, by_param)
                query.filters.append(item)
            for index, item in enumerate(
                self.list_of(body.get("order_by"), (*path, "order_by"), "'order_by'")
            ):
                match = _ORDER_RE.match(item) if isinstance(item, str) else None
                if match is None:
                    self.error(
                        (*path, "order_by", index),
                        f"{item!r} is not '<column>' or '<column> desc'.",
                        "write e.g. '- name' or '- created_at desc'.",
                    )
                elif match.group(1) not in columns:
                    self.error(
                        (*path, "order_by", index),
                        f"'{match.group(1)}' is not a column of {projection.name}.",
                        did_you_mean(match.group(1), columns, what="columns"),
                    )
                else:
                    query.order_by.append((match.group(1), match.group(2) or "asc"))
            for key in ("limit", "offset"):
                if key in body:
                    self.check_paging(body[key], (*path, key), by_param, key)
            query.limit, query.offset = body.get("limit"), body.get("offset")
            if "paginate" in body:
                self.check_keyset(query, body["paginate"], (*path, "paginate"))
            for name_, message, fix in parameter_problems(by_param, keyset=query.paginate == "keyset"):
                self.error((*path, "params", name_), message, fix, key=True)

    def check_filter(
        self, item: Any, path: PathT, columns: dict[str, Field], params: dict[str, Field]
    ) -> None:
        body = self.mapping(item, path, "a filter", allow_none=False)
        for column_name, condition in body.items():
            cpath = (*path, column_name)
            if column_name == "any":
                for index, sub in enumerate(self.list_of(condition, cpath, "'any'")):
                    self.check_filter(sub, (*cpath, index), columns, params)
                continue
            column = columns.get(column_name)
            if column is None:
                self.error(
                    cpath,
                    f"'{column_name}' is not a column.",
                    did_you_mean(column_name, columns, what="columns"),
                    key=True,
                )
                continue
            ops = self.mapping(condition, cpath, f"the condition on '{column_name}'", allow_none=False)
            for op, param in ops.items():
                opath = (*cpath, op)
                if op not in L.FILTER_OPS:
                    self.error(
                        opath,
                        f"unknown filter operator '{op}'.",
                        did_you_mean(op, L.FILTER_OPS, what="operators"),
                        key=True,
                    )
                    continue
                if not isinstance(param, str) or param not in params:
                    self.error(
                        opath,
                        f"'{param}' is not a parameter of the query.",
                        did_you_mean(str(param), params, what="parameters"),
                    )
                    continue
                kinds = ("string", _EMAIL_TYPE)
                if op in ("like", "ilike", "contains") and (
                    column.type.kind not in kinds or params[param].type.kind not in kinds
                ):
                    self.error(
                        opath,
                        f"'{op}' compares text, but {column_name} is {column.type.text} and "
                        f"{param} is {params[param].type.text}.",
                        "use eq/ne/lt/le/gt/ge for other types.",
                    )
                elif op not in ("like", "ilike", "contains") and not _compatible(
                    params[param].type, column.type
                ):
                    self.error(
                        opath,
                        f"the parameter {param} ({params[param].type.text}) cannot be compared with "
                        f"{column_name} ({column.type.text}).",
                        "give the parameter the column's type.",
                    )

    def check_keyset(self, query: Query, value: Any, path: PathT) -> None:
        if value != "keyset":
            self.error(path, f"'paginate' must be 'keyset', not {value!r}.", "write 'paginate: keyset'.")
            return
        directions = {direction for _, direction in query.order_by}
        if not query.order_by or len(directions) != 1:
            self.error(
                path,
                "keyset pagination needs an 'order_by' whose columns all go the same way.",
                "order by e.g. '[opened_at desc]' or '[name, created_at]'.",
            )
        elif query.offset is not None:
            self.error(path, "keyset pagination replaces 'offset'.", "remove 'offset'.")
        elif query.returns == "one":
            self.error(path, "a query that returns one row has no pages.", "remove 'paginate'.")
        else:
            query.paginate = "keyset"

    def check_paging(self, value: Any, path: PathT, params: dict[str, Field], key: str) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                self.error(path, f"'{key}' cannot be negative.", f"write '{key}: 0' or more.")
            return
        if not isinstance(value, str) or value not in params:
            self.error(
                path,
                f"'{key}' must be a whole number or the name of an int parameter.",
                did_you_mean(str(value), params, what="parameters"),
            )
        elif params[value].type.kind != "int":
            self.error(
                path, f"the parameter '{value}' used as {key} must be an int.", f"declare '{value}: int'."
            )

    # -- scenarios ---------------------------------------------------------------------------

    def parse_scenarios(self, value: Any, domain: Domain) -> None:
        seen: dict[str, PathT] = {}
        for index, item in enumerate(self.list_of(value, ("scenarios",), "'scenarios'")):
            path: PathT = ("scenarios", index)
            body = self.mapping(item, path, "a scenario", allow_none=False)
            if not body:
                continue
            self.keys(body, path, L.SCENARIO, "a scenario", required=("name", "when", "then"))
            name = body.get("name")
            if not isinstance(name, str) or snake_problem(name, "scenario"):
                if "name" in body:
                    problem = snake_problem(str(name), "scenario") or ("", "")
                    self.error((*path, "name"), problem[0], problem[1])
                continue
            if name in seen:
                self.error(
                    (*path, "name"),
                    f"the scenario name '{name}' is used twice (first at line "
                    f"{self.doc.pos((*seen[name], 'name'))[0]}).",
                    "give each scenario its own name.",
                )
                continue
            seen[name] = path
            self.parse_scenario(name, body, path, domain)

    def instance(self, item: Any, path: PathT, what: str) -> tuple[str, dict[str, Any], PathT] | None:
        if not isinstance(item, dict) or len(item) != 1:
            self.error(
                path,
                f"{what} must be one '<Name>: {{field: value, ...}}' entry.",
                "write e.g. 'UserCreated: {user_id: ..., email: ...}'.",
            )
            return None
        name, data = next(iter(item.items()))
        dpath = (*path, name)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.error(
                dpath, f"the data of {name} must be a mapping of field values.", "write '{field: value}'."
            )
            return None
        return name, data, dpath

    def check_data(self, data: dict[str, Any], fields: list[Field], path: PathT, owner: str) -> None:
        by_name = {f.name: f for f in fields}
        for key, value in data.items():
            field = by_name.get(key)
            if field is None:
                self.error(
                    (*path, key),
                    f"{owner} has no field '{key}'.",
                    did_you_mean(key, by_name, what=f"fields of {owner}"),
                    key=True,
                )
                continue
            problem = value_problem(value, field, self.types)
            if problem:
                quote = (
                    " in quotes, e.g. 'no'" if isinstance(value, bool) and field.type.kind != "bool" else ""
                )
                self.error((*path, key), f"{owner}.{key}: {problem}.", f"give a {field.type.text}{quote}.")
        missing = [f.name for f in fields if f.required and f.name not in data]
        if missing:
            self.error(path, f"{owner} needs {', '.join(missing)}.", f"add {', '.join(missing)}.", key=True)

    def parse_scenario(self, name: str, body: dict[str, Any], path: PathT, domain: Domain) -> None:
        when = self.instance(body.get("when"), (*path, "when"), "'when'") if "when" in body else None
        command = None
        if when is not None:
            command = domain.command(when[0])
            if command is None:
                self.error(
                    when[2],
                    f"'{when[0]}' is not a command.",
                    did_you_mean(when[0], [c.name for c in domain.commands], what="commands"),
                    key=True,
                )
        allowed_events = [
            e.name for e in domain.events if command is None or e.aggregate == command.aggregate
        ]
        expect_invalid = isinstance(body.get("then"), dict) and body["then"].get("error") == "invalid"
        if command is not None and when is not None and not expect_invalid:
            self.check_data(when[1], command.fields, when[2], command.name)
        given: list[tuple[str, dict[str, Any]]] = []
        for index, item in enumerate(self.list_of(body.get("given"), (*path, "given"), "'given'")):
            parsed = self.event_instance(item, (*path, "given", index), allowed_events, command, domain)
            if parsed:
                given.append(parsed)
        then = body.get("then")
        then_events: list[tuple[str, dict[str, Any]]] | None = None
        then_error: str | None = None
        tpath = (*path, "then")
        if isinstance(then, dict) and "error" in then:
            self.keys(then, tpath, L.THEN_ERROR, "'then'")
            then_error = then["error"] if isinstance(then["error"], str) else None
            if command is not None and then_error is not None and not command.custom:
                codes = [*L.BUILTIN_ERRORS, *(r.code for r in command.rules)]
                if then_error not in codes:
                    self.error(
                        (*tpath, "error"),
                        f"{command.name} never fails with '{then_error}'.",
                        did_you_mean(then_error, codes, what="error codes"),
                    )
            if then_error is None:
                self.error((*tpath, "error"), "the error must be a code.", "write 'error: not_found'.")
        elif isinstance(then, list):
            then_events = []
            for index, item in enumerate(then):
                parsed = self.event_instance(item, (*tpath, index), allowed_events, command, domain)
                if parsed is None:
                    continue
                if command is not None and parsed[0] not in [e.event for e in command.emits]:
                    self.error(
                        (*tpath, index),
                        f"{command.name} does not emit {parsed[0]}.",
                        f"expect one of: {', '.join(e.event for e in command.emits)}.",
                    )
                then_events.append(parsed)
        elif "then" in body:
            self.error(
                tpath,
                "'then' must be a list of events or '{error: <code>}'.",
                "write 'then: [UserCreated: {...}]' or 'then: {error: not_found}'.",
            )
        metadata = self.mapping(body.get("metadata"), (*path, "metadata"), "'metadata'")
        self.keys(metadata, (*path, "metadata"), L.SCENARIO_METADATA, "the scenario's metadata")
        for key, value in metadata.items():
            kind = "datetime" if key == "timestamp" else "string"
            problem = value_problem(value, Field(key, TypeRef(kind, kind)), self.types)
            if problem and key in L.SCENARIO_METADATA:
                self.error((*path, "metadata", key), f"metadata {key}: {problem}.", f"give a {kind}.")
        if command is None or when is None or (then_events is None and then_error is None):
            return
        self.check_story(command, given, then_events, then_error, path, domain)
        domain.scenarios.append(
            Scenario(
                name,
                command.name,
                when[1],
                given,
                then_events,
                then_error,
                self.text(body, "description", path),
                metadata=metadata,
            )
        )

    def check_story(
        self,
        command: Command,
        given: list[tuple[str, dict[str, Any]]],
        then_events: list[tuple[str, dict[str, Any]]] | None,
        then_error: str | None,
        path: PathT,
        domain: Domain,
    ) -> None:
        """Catch scenarios that cannot pass whatever the code does."""
        aggregate = domain.aggregate(command.aggregate)
        if given and aggregate is not None:
            first = domain.event(given[0][0])
            if first is not None and _unset_state(first, aggregate):
                self.error(
                    (*path, "given", 0),
                    f"{first.name} cannot be the first event of a {aggregate.name}: it does not set "
                    f"{', '.join(_unset_state(first, aggregate))}.",
                    f"start 'given' with an event that creates the {aggregate.name}.",
                )
        if then_error == "already_exists" and (command.precondition != "must_not_exist" or not given):
            self.error(
                (*path, "then", "error"),
                f"{command.name} can only fail with 'already_exists' when its precondition is "
                "must_not_exist and 'given' has events.",
                "add the events that create the aggregate under 'given', or expect another outcome.",
            )
        if then_error == "not_found" and (command.precondition != "must_exist" or given):
            self.error(
                (*path, "then", "error"),
                f"{command.name} can only fail with 'not_found' when its precondition is must_exist "
                "and 'given' is empty.",
                "remove the given events, or expect another outcome.",
            )
        if then_events is not None and not command.custom and command.emits:
            produced = [e.event for e in command.emits]
            expected = [name for name, _ in then_events]
            if produced != expected:
                self.error(
                    (*path, "then"),
                    f"{command.name} emits {', '.join(produced)}, but the scenario expects "
                    f"{', '.join(expected) or 'no events'}.",
                    f"list the events {command.name} emits, in that order, with their data.",
                )

    def event_instance(
        self, item: Any, path: PathT, allowed: list[str], command: Command | None, domain: Domain
    ) -> tuple[str, dict[str, Any]] | None:
        parsed = self.instance(item, path, "an event")
        if parsed is None:
            return None
        name, data, dpath = parsed
        event = domain.event(name)
        if event is None:
            self.error(
                dpath,
                f"'{name}' is not an event.",
                did_you_mean(name, [e.name for e in domain.events], what="events"),
                key=True,
            )
            return None
        if name not in allowed:
            self.error(
                dpath,
                f"{name} belongs to {event.aggregate}, not to {command.aggregate if command else '?'}.",
                f"use events of {command.aggregate if command else 'the aggregate'}.",
                key=True,
            )
            return None
        self.check_data(data, event.fields, dpath, name)
        return name, data

    def check_coverage(self, domain: Domain) -> None:
        for command in domain.commands:
            path = ("commands", command.name)
            scenarios = [s for s in domain.scenarios if s.command == command.name]
            if command.custom and not scenarios:
                self.error(
                    path,
                    f"{command.name} has a hand-written decision but no scenario tests it.",
                    f"add a scenario with 'when: {{{command.name}: ...}}'.",
                    key=True,
                )
            for index, rule in enumerate(command.rules):
                if not any(s.then_error == rule.code for s in scenarios):
                    self.error(
                        (*path, "requires", index),
                        f"no scenario shows {command.name} failing with "
                        f"'{rule.code}', so the rule would go untested.",
                        f"add a scenario whose 'then' is '{{error: {rule.code}}}'.",
                    )


_LITERAL_KINDS = ("string", "email", "int", "decimal", "bool", "enum")


def _literal_problem(value: Any, field: Field, types: dict[str, NamedType]) -> str | None:
    """Why `value` cannot be a literal for `field` in generated code (or does not fit it)."""
    if field.type.kind == "list" and value == []:
        return None
    if field.type.kind not in _LITERAL_KINDS and value is not None:
        return f"literal {field.type.text} values are not supported here"
    return value_problem(value, field, types)


def _compatible(source: TypeRef, target: TypeRef) -> bool:
    if source == target:
        return True
    if source.kind == _EMAIL_TYPE and target.kind == "string":
        return True
    return source.kind == "int" and target.kind == "decimal"


def _unset_state(event: Event, aggregate: Aggregate) -> list[str]:
    """Required state fields a first event leaves unset."""
    fields = {f.name: f for f in event.fields}
    done = set()
    for apply in event.applies:
        if apply.expr.op != "set":
            continue
        if apply.expr.source == "literal" or not fields[apply.expr.name].optional:
            done.add(apply.target)
    return [f.name for f in aggregate.state if f.required and f.name not in done]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return {
        dict: "a mapping",
        list: "a list",
        str: f"the text {value!r}",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def validate(doc: Document) -> tuple[Domain | None, list[Diagnostic]]:
    validator = Validator(doc)
    domain = validator.run()
    return domain, validator.diagnostics
