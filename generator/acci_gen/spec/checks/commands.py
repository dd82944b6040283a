"""Commands: the aggregate's identity in their data, rules that compare values of fitting types,
and the events they emit, each field with a value from the command, the state or the metadata."""

from __future__ import annotations

import re

from acci_gen.model import (
    METADATA_FIELDS,
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
from acci_gen.spec import language as lang
from acci_gen.spec.checks.aggregates import aggregate_ref
from acci_gen.spec.checks.context import Context, Scopes, compatible, literal_problem, mismatch, unset_state
from acci_gen.spec.checks.expressions import is_expression, parse_expression
from acci_gen.spec.checks.fields import parse_fields
from acci_gen.spec.checks.multi import check_multi
from acci_gen.spec.checks.rules import parse_rule
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean


def check_commands(ctx: Context, commands: dict[str, lang.Command], domain: Domain) -> None:
    for name, spec in commands.items():
        path: PathT = ("commands", name)
        if not ctx.check_pascal(name, "command", path):
            continue
        ctx.claim(name, "command", path)
        ctx.claim(f"{name}Handler", "generated handler class", path)
        ctx.claim(f"{name}Body", "generated HTTP body class", path)
        fields = parse_fields(ctx, spec.fields, (*path, "fields"))
        if spec.aggregates is not None or spec.aggregate is None:
            _check_multi(ctx, name, spec, path, domain, fields)
            continue
        aggregate = aggregate_ref(ctx, spec.aggregate, (*path, "aggregate"), domain)
        command = Command(
            name,
            aggregate.name if aggregate else "",
            fields,
            precondition=spec.precondition,
            custom=spec.decide == "custom",
            description=spec.description or "",
            http=HttpRoute(spec.http.method, spec.http.path) if spec.http is not None else None,
            retries_on_conflict=spec.retries_on_conflict,
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


def _check_multi(
    ctx: Context, name: str, spec: lang.Command, path: PathT, domain: Domain, fields: list[Field]
) -> None:
    command = Command(
        name,
        "",
        fields,
        precondition=spec.precondition,
        description=spec.description or "",
        retries_on_conflict=spec.retries_on_conflict,
    )
    domain.commands.append(command)
    if spec.aggregate is not None:
        ctx.error(
            (*path, "aggregate"),
            f"{name} has both 'aggregate' and 'aggregates'.",
            "keep 'aggregate' for one aggregate, or 'aggregates' for several.",
            key=True,
        )
        return
    if spec.aggregates is None:
        ctx.incomplete.add(name)
        ctx.error(
            path,
            f"command {name} names no aggregate.",
            "add 'aggregate: <Aggregate>', or 'aggregates: {role: Aggregate(identity_field), ...}'.",
            key=True,
        )
        return
    if spec.decide == "custom":
        ctx.error(
            (*path, "decide"),
            "a command on several aggregates is decided by its rules and maps; 'decide: custom' is "
            "not supported for it.",
            "remove 'decide: custom' (or write a MultiCommandHandler by hand).",
        )
    check_multi(ctx, command, spec, path, domain)


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
    def guard(source: str, where: PathT) -> bool:
        if source == "state" and "state" not in scopes:
            _reads_state_too_early(ctx, command, where)
            return True
        return False

    return parse_rule(ctx, rule, path, scopes, command.name, guard)


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
        mapping: dict[str, str | lang.ValueOf | lang.ObjectOf] = {}
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
            map_event(ctx, command, event, emit, mapping, (*ipath, "map"), scopes)
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


def map_event(
    ctx: Context,
    command: Command,
    event: Event,
    emit: Emit,
    mapping: dict[str, str | lang.ValueOf | lang.ObjectOf],
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
            if isinstance(spec, lang.ObjectOf):
                built = object_value(ctx, spec, field, fpath, scopes, f"{event.name}.{field.name}")
                if built is not None:
                    emit.mapping.append((field.name, built))
                continue
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
            if re.search(r"\bstate\.", spec) and "state" not in scopes:
                _reads_state_too_early(ctx, command, fpath)
                continue
            if is_expression(spec):
                calc = parse_expression(ctx, spec, fpath, scopes)
                if calc is None:
                    continue
                assert calc.type is not None
                if not compatible(calc.type, field.type):
                    ctx.error(
                        fpath,
                        f"'{spec}' is {calc.type.text}, but {event.name}.{field.name} is {field.type.text}.",
                        f"compute a {field.type.text}, or change the field's type.",
                    )
                    continue
                emit.mapping.append((field.name, calc))
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
        why = mismatch(source, field)
        if why is not None:
            ctx.error(
                fpath if field.name in mapping else path[:-1],
                f"{expr.source}.{expr.name} {why}, but {event.name}.{field.name} is "
                f"{'an optional ' if field.optional else 'a required '}{field.type.text}.",
                f"map a {field.type.text} to it, or change one of the field types.",
            )
            continue
        emit.mapping.append((field.name, expr))


def object_value(
    ctx: Context, spec: lang.ObjectOf, target: Field, path: PathT, scopes: Scopes, what: str
) -> Expr | None:
    """An object built field by field ({fields: {...}}); unmapped fields come from the command."""
    named = ctx.types.get(target.type.name) if target.type.kind == "object" else None
    if named is None:
        ctx.error(
            path,
            f"{what} is {target.type.text}: only a field of an object type is built with 'fields'.",
            "map a reference or a {value: ...} to it.",
        )
        return None
    given = spec.fields or {}
    for key in given:
        if all(f.name != key for f in named.fields):
            ctx.error(
                (*path, "fields", key),
                f"{named.name} has no field '{key}'.",
                did_you_mean(key, [f.name for f in named.fields], what=f"fields of {named.name}"),
                key=True,
            )
    keys: list[tuple[str, TypeRef]] = []
    args: list[Expr] = []
    for sub in named.fields:
        spath = (*path, "fields", sub.name)
        sub_what = f"{what}.{sub.name}"
        value = given.get(sub.name)
        expr: Expr | None
        if isinstance(value, lang.ObjectOf):
            expr = object_value(ctx, value, sub, spath, scopes, sub_what)
        elif isinstance(value, lang.ValueOf):
            problem = literal_problem(value.value, sub, ctx.types)
            if problem:
                ctx.error(
                    (*spath, "value"),
                    f"the value does not fit {sub_what}: {problem}.",
                    "give a value of its type.",
                )
                continue
            expr = Expr("literal", literal=value.value)
        else:
            if value is None:
                if sub.name not in scopes["command"]:
                    if sub.required:
                        ctx.error(
                            path,
                            f"no value for {sub_what}: the command has no field '{sub.name}'.",
                            f"add '{sub.name}: command.<field>' under 'fields:'.",
                        )
                    continue
                value = f"command.{sub.name}"
            if is_expression(value):
                expr = parse_expression(ctx, value, spath, scopes)
                optional = False
            else:
                expr = ctx.parse_ref(value, spath, scopes)
                if expr is not None:
                    source = scopes[expr.source][expr.name]
                    expr.type, optional = source.type, source.optional
            if expr is None or expr.type is None:
                continue
            if not compatible(expr.type, sub.type) or (optional and not sub.optional):
                ctx.error(
                    spath if sub.name in given else path,
                    f"{value} ({'optional ' if optional else ''}{expr.type.text}) does not fit {sub_what} "
                    f"({sub.type.text}).",
                    "map a value of the field's type.",
                )
                continue
        if expr is not None:
            keys.append((sub.name, sub.type))
            args.append(expr)
    return Expr("object", name=named.name, literal=keys, args=args, type=target.type)
