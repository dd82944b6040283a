"""Commands: the aggregate's identity in their data, rules that compare values of fitting types,
and the events they emit, each field with a value from the command, the state or the metadata."""

from __future__ import annotations

import re
from typing import Any

from acci_gen.model import (
    METADATA_FIELDS,
    NUMERIC,
    Aggregate,
    Command,
    Domain,
    Emit,
    Event,
    Expr,
    Field,
    HttpRoute,
    Rule,
    TypeRef,
)
from acci_gen.names import snake_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.aggregates import aggregate_ref
from acci_gen.spec.checks.context import Context, Scopes, compatible, is_ref, literal_problem, unset_state
from acci_gen.spec.checks.fields import parse_fields
from acci_gen.spec.loader import PathT, load_text
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import fits

_CONDITION_RE = re.compile(r"^\s*(\S+)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")


def check_commands(ctx: Context, commands: dict[str, lang.Command], domain: Domain) -> None:
    for name, spec in commands.items():
        path: PathT = ("commands", name)
        if not ctx.check_pascal(name, "command", path):
            continue
        ctx.claim(name, "command", path)
        ctx.claim(f"{name}Handler", "generated handler class", path)
        ctx.claim(f"{name}Body", "generated HTTP body class", path)
        aggregate = aggregate_ref(ctx, spec.aggregate, (*path, "aggregate"), domain)
        fields = parse_fields(ctx, spec.fields, (*path, "fields"))
        command = Command(
            name,
            aggregate.name if aggregate else "",
            fields,
            precondition=spec.precondition,
            custom=spec.decide == "custom",
            description=spec.description or "",
            http=HttpRoute(spec.http.method, spec.http.path) if spec.http is not None else None,
        )
        domain.commands.append(command)
        if aggregate is None:
            continue
        _check_identity(ctx, command, aggregate, path)
        scopes = _scopes(command, aggregate)
        for index, rule in enumerate(spec.requires or []):
            parsed = _rule(ctx, rule, (*path, "requires", index), scopes, command)
            if parsed is not None:
                if any(r.code == parsed.code for r in command.rules):
                    ctx.error(
                        (*path, "requires", index, "code"),
                        f"the code '{parsed.code}' is used twice.",
                        "give each rule its own code.",
                    )
                command.rules.append(parsed)
        _check_emits(ctx, command, aggregate, spec.emits, (*path, "emits"), scopes, domain)


def _check_identity(ctx: Context, command: Command, aggregate: Aggregate, path: PathT) -> None:
    if not aggregate.identity:
        return
    field = command.field(aggregate.identity)
    ident = aggregate.field(aggregate.identity)
    assert ident is not None
    if field is None:
        ctx.error(
            (*path, "fields"),
            f"command {command.name} has no field '{aggregate.identity}', the identity "
            f"of {aggregate.name}, so it cannot say which {aggregate.name} it is for.",
            f"add '{aggregate.identity}: {ident.type.text}' to its fields.",
            key=True,
        )
    elif not field.required or not compatible(field.type, ident.type):
        ctx.error(
            (*path, "fields", aggregate.identity),
            f"{command.name}.{aggregate.identity} must be a required {ident.type.text}, "
            f"like the identity of {aggregate.name}.",
            f"declare it as '{aggregate.identity}: {ident.type.text}'.",
            key=True,
        )


def _scopes(command: Command, aggregate: Aggregate) -> Scopes:
    scopes: Scopes = {
        "command": {f.name: f for f in command.fields},
        "metadata": {k: Field(k, TypeRef(v, v)) for k, v in METADATA_FIELDS.items()},
    }
    if command.precondition == "must_exist":
        scopes["state"] = {f.name: f for f in aggregate.state}
    return scopes


def _reads_state_too_early(ctx: Context, command: Command, path: PathT) -> None:
    ctx.error(
        path,
        f"{command.name} reads the state, but the aggregate may not exist yet.",
        "add 'precondition: must_exist' to the command.",
    )


def _rule(ctx: Context, rule: lang.Rule, path: PathT, scopes: Scopes, command: Command) -> Rule | None:
    code = rule.code
    if snake_problem(code, "code"):
        ctx.error(
            (*path, "code"),
            f"the code {code!r} must be a snake_case name.",
            "write e.g. 'code: insufficient_funds'.",
        )
        return None
    if code in lang.BUILTIN_ERRORS:
        ctx.error((*path, "code"), f"'{code}' is a built-in error code.", "pick a more specific code.")
    condition = rule.condition
    cpath = (*path, "condition")
    match = _CONDITION_RE.match(condition)
    if not match:
        ctx.error(
            cpath,
            f"the condition '{condition}' is not '<reference> <op> <reference or value>'.",
            "write e.g. 'state.balance >= command.amount' (ops: == != < <= > >=).",
        )
        return None
    left_text, op, right_text = match.groups()
    if left_text.startswith("state.") and "state" not in scopes:
        _reads_state_too_early(ctx, command, cpath)
        return None
    left = ctx.parse_ref(left_text, cpath, scopes)
    if left is None:
        return None
    lfield = scopes[left.source][left.name]
    right: Expr | None
    if is_ref(right_text) and right_text.split(".")[0] in ("command", "state", "metadata"):
        if right_text.startswith("state.") and "state" not in scopes:
            _reads_state_too_early(ctx, command, cpath)
            return None
        right = ctx.parse_ref(right_text, cpath, scopes)
        if right is None:
            return None
        rfield = scopes[right.source][right.name]
        if not (compatible(rfield.type, lfield.type) or compatible(lfield.type, rfield.type)):
            ctx.error(
                cpath,
                f"cannot compare {left_text} ({lfield.type.text}) with {right_text} ({rfield.type.text}).",
                "compare values of the same type.",
            )
            return None
        optional = lfield.optional or rfield.optional
    else:
        literal = _literal(right_text)
        probe = Field("value", lfield.type, optional=op in ("==", "!="))
        problem = literal_problem(literal, probe, ctx.types)
        if problem:
            ctx.error(
                cpath,
                f"the value {right_text} cannot be compared with {left_text}: {problem}.",
                "compare with a value of the field's type (quote text: 'active').",
            )
            return None
        right = Expr("literal", literal=literal)
        optional = lfield.optional
    if op not in ("==", "!=") and (not fits(lfield.type.kind, (*NUMERIC, "date", "datetime")) or optional):
        ctx.error(
            cpath,
            f"'{op}' needs required numbers, dates or times; {left_text} is "
            f"{'optional ' if lfield.optional else ''}{lfield.type.text}.",
            "use == or !=, or compare numbers.",
        )
        return None
    message = rule.message or f"{command.name} requires {condition.strip()}"
    return Rule(left, op, right, code, message, condition.strip())


def _literal(text: str) -> Any:
    """The right side of a condition read as a YAML value (`false`, `0.5`, `'active'`), by the
    same bounded loader as the file; what it cannot read stays text."""
    doc, problems = load_text(text, "condition")
    return text if doc is None or problems else doc.data


def _check_emits(
    ctx: Context,
    command: Command,
    aggregate: Aggregate,
    emits: str | list[str | lang.EmitSpec],
    path: PathT,
    scopes: Scopes,
    domain: Domain,
) -> None:
    items = [emits] if isinstance(emits, str) else emits
    events = [e.name for e in domain.events]
    for index, item in enumerate(items):
        ipath = path if isinstance(emits, str) else (*path, index)
        mapping: dict[str, str | lang.ValueOf] = {}
        if isinstance(item, lang.EmitSpec):
            mapping = item.map or {}
            if mapping and command.custom:
                ctx.error(
                    (*ipath, "map"),
                    "a custom decision builds its events itself; 'map' is not used.",
                    "remove 'map', or remove 'decide: custom'.",
                    key=True,
                )
            name, epath = item.event, (*ipath, "event")
        else:
            name, epath = item, ipath
        event = domain.event(name)
        if event is None:
            ctx.incomplete.add(command.name)
            if not ctx.broken("events", name):
                ctx.error(
                    epath,
                    f"{command.name} emits '{name}', which is not an event.",
                    did_you_mean(name, events, what="events"),
                )
            continue
        if event.aggregate and event.aggregate != aggregate.name:
            ctx.incomplete.add(command.name)
            ctx.error(
                epath,
                f"{name} belongs to {event.aggregate}, but {command.name} is for {aggregate.name}.",
                f"emit an event of {aggregate.name}, or change the command's aggregate.",
            )
            continue
        if any(e.event == name for e in command.emits):
            ctx.error(epath, f"{command.name} emits {name} twice.", "list it once.")
            continue
        emit = Emit(name, [])
        command.emits.append(emit)
        if not command.custom:
            _map_event(ctx, command, event, emit, mapping, (*ipath, "map"), scopes)
    if command.emits and command.precondition != "must_exist":
        first = domain.event(command.emits[0].event)
        if first is not None and not command.custom and first.aggregate == aggregate.name:
            missing = unset_state(first, aggregate)
            if missing:
                ctx.error(
                    path,
                    f"{command.name} may create a new {aggregate.name}, but its first event "
                    f"{first.name} does not set the state field{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)}.",
                    f"add {', '.join(missing)} to {first.name} (or to its 'apply:'), give the state "
                    "field a default, or set 'precondition: must_exist'.",
                )


def _map_event(
    ctx: Context,
    command: Command,
    event: Event,
    emit: Emit,
    mapping: dict[str, str | lang.ValueOf],
    path: PathT,
    scopes: Scopes,
) -> None:
    for key in mapping:
        if event.field(key) is None:
            ctx.error(
                (*path, key),
                f"{event.name} has no field '{key}'.",
                did_you_mean(key, [f.name for f in event.fields], what=f"fields of {event.name}"),
                key=True,
            )
    for field in event.fields:
        fpath = (*path, field.name)
        expr: Expr | None
        if field.name in mapping:
            spec = mapping[field.name]
            if isinstance(spec, lang.ValueOf):
                problem = literal_problem(spec.value, field, ctx.types)
                if problem:
                    ctx.error(
                        (*fpath, "value"),
                        f"the value does not fit {event.name}.{field.name}: {problem}.",
                        "give a value of the field's type, or map it from the command or the metadata.",
                    )
                else:
                    emit.mapping.append((field.name, Expr("literal", literal=spec.value)))
                continue
            if spec.startswith("state.") and "state" not in scopes:
                _reads_state_too_early(ctx, command, fpath)
                continue
            expr = ctx.parse_ref(spec, fpath, scopes)
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
                ctx.error(
                    path if mapping else path[:-1],
                    f"{command.name} gives no value for {event.name}.{field.name}: {sources} "
                    f"field '{field.name}'.",
                    f"add 'map: {{{field.name}: command.<field>}}' (or metadata.<field>, "
                    "{value: ...}) to this emitted event, or add the field to the command.",
                )
            continue
        source = scopes[expr.source][expr.name]
        if not compatible(source.type, field.type) or (source.optional and not field.optional):
            why = (
                "may be None"
                if source.optional and compatible(source.type, field.type)
                else f"is a {source.type.text}"
            )
            ctx.error(
                fpath if field.name in mapping else path[:-1],
                f"{expr.source}.{expr.name} {why}, but {event.name}.{field.name} is "
                f"{'an optional ' if field.optional else 'a required '}{field.type.text}.",
                f"map a {field.type.text} to it, or change one of the field types.",
            )
            continue
        emit.mapping.append((field.name, expr))
