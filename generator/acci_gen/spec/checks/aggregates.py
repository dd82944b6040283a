"""Aggregates and events: identities, the aggregate each event belongs to, and how each event
changes the state (copied fields and `apply:`), with types that fit."""

from __future__ import annotations

from acci_gen.model import NUMERIC, Aggregate, Apply, Domain, Event, Expr, Field
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, Scopes, compatible, literal_problem
from acci_gen.spec.checks.evolution import parse_versions
from acci_gen.spec.checks.expressions import is_expression, parse_expression
from acci_gen.spec.checks.fields import parse_fields
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean
from acci_gen.spec.values import UNCHECKED, fits

_PREPOSITION = {"set": "into", "remove": "from"}
#: The kinds of field that can identify an aggregate (they become its stream's id).
IDENTITY_KINDS = ("string", "uuid", "int", "email")


def check_aggregates(ctx: Context, aggregates: dict[str, lang.Aggregate], domain: Domain) -> None:
    for name, spec in aggregates.items():
        path: PathT = ("aggregates", name)
        if not ctx.check_pascal(name, "aggregate", path):
            continue
        ctx.claim(name, "aggregate", path)
        ctx.claim(f"{name}State", "generated state class", path)
        state = parse_fields(ctx, spec.state, (*path, "state"), "state field")
        aggregate = Aggregate(name, "", state, spec.description or "", spec.snapshot_every)
        field = aggregate.field(spec.identity)
        if field is None:
            ctx.error(
                (*path, "identity"),
                f"the identity '{spec.identity}' is not a state field of {name}.",
                did_you_mean(spec.identity, [f.name for f in state], what="state fields"),
            )
        elif not field.required or not fits(field.type.kind, IDENTITY_KINDS):
            ctx.error(
                (*path, "identity"),
                f"the identity field '{spec.identity}' must be a required string, uuid or int.",
                "remove 'optional'/'default' from it, or pick another field.",
            )
        else:
            aggregate.identity = field.name
        domain.aggregates.append(aggregate)


def aggregate_ref(ctx: Context, name: str, path: PathT, domain: Domain) -> Aggregate | None:
    """The aggregate named `name`; reported when there is none (unless it is broken)."""
    aggregate = domain.aggregate(name)
    if aggregate is None and not ctx.broken("aggregates", name):
        known = [a.name for a in domain.aggregates] + ctx.rejected.get("aggregate", [])
        ctx.error(path, f"unknown aggregate '{name}'.", did_you_mean(name, known, what="aggregates"))
    return aggregate


def check_events(ctx: Context, events: dict[str, lang.Event], domain: Domain) -> None:
    """Events, then how each changes its aggregate's state (once every event is known)."""
    pending: list[tuple[Event, Aggregate, lang.Event, PathT]] = []
    for name, spec in events.items():
        path: PathT = ("events", name)
        if not ctx.check_pascal(name, "event", path):
            continue
        ctx.claim(name, "event", path)
        aggregate = aggregate_ref(ctx, spec.aggregate, (*path, "aggregate"), domain)
        fields = parse_fields(ctx, spec.fields, (*path, "fields"))
        event = Event(
            name,
            aggregate.name if aggregate else "",
            fields,
            version=spec.version,
            description=spec.description or "",
        )
        if spec.versions is not None:
            event.versions = parse_versions(ctx, event, spec.versions, (*path, "versions"))
        domain.events.append(event)
        if aggregate is not None:
            pending.append((event, aggregate, spec, path))
    for event, aggregate, spec, path in pending:
        _check_apply(ctx, event, aggregate, spec, path)


def _check_apply(ctx: Context, event: Event, aggregate: Aggregate, spec: lang.Event, path: PathT) -> None:
    explicit = spec.apply or {}
    for field in event.fields:
        target = aggregate.field(field.name)
        if target is None or field.name in explicit:
            continue
        if not compatible(field.type, target.type):
            ctx.error(
                (*path, "fields", field.name),
                f"{event.name}.{field.name} ({field.type.text}) would be copied to the state field "
                f"{aggregate.name}.{field.name}, which is a {target.type.text}.",
                f"give them the same type, or say under 'apply:' how {event.name} changes '{field.name}'.",
                key=True,
            )
            continue
        event.applies.append(Apply(field.name, Expr("event", field.name)))
    apath = (*path, "apply")
    state_names = [f.name for f in aggregate.state]
    fields = {f.name: f for f in aggregate.state}
    for target_name, how in explicit.items():
        tpath = (*apath, target_name)
        target = aggregate.field(target_name)
        if target is None:
            ctx.error(
                tpath,
                f"'{target_name}' is not a state field of {aggregate.name}.",
                did_you_mean(target_name, state_names, what="state fields"),
                key=True,
            )
            continue
        if isinstance(how, lang.ValueOf):
            problem = literal_problem(how.value, target, ctx.types)
            if problem:
                ctx.error(
                    (*tpath, "value"),
                    f"the value does not fit {aggregate.name}.{target_name}: {problem}.",
                    "give a value of the state field's type.",
                )
            else:
                event.applies.append(Apply(target_name, Expr("literal", literal=how.value)))
            continue
        if how == "ignore":
            continue  # not copied: the state field keeps its value
        op, ref = _operation(how)
        rpath = tpath if op == "set" else (*tpath, op)
        scopes: Scopes = {"event": {f.name: f for f in event.fields}, "state": fields}
        if op == "set" and is_expression(ref):
            calc = parse_expression(ctx, ref, rpath, scopes)
            if calc is None:
                continue
            assert calc.type is not None
            if not compatible(calc.type, target.type):
                ctx.error(
                    rpath,
                    f"'{ref}' is {calc.type.text}, but {aggregate.name}.{target_name} is {target.type.text}.",
                    "compute a value of the state field's type.",
                )
                continue
            event.applies.append(Apply(target_name, calc))
            continue
        expr = ctx.parse_ref(ref, rpath, scopes)
        if expr is None:
            continue
        expr.op = op
        source = scopes[expr.source][expr.name]
        _check_apply_types(ctx, event, aggregate, target, source, op, rpath)
        event.applies.append(Apply(target_name, expr))


def _operation(how: str | lang.AddOf | lang.SubtractOf | lang.AppendOf | lang.RemoveOf) -> tuple[str, str]:
    if isinstance(how, lang.AddOf):
        return "add", how.add
    if isinstance(how, lang.SubtractOf):
        return "subtract", how.subtract
    if isinstance(how, lang.AppendOf):
        return "append", how.append
    if isinstance(how, lang.RemoveOf):
        return "remove", how.remove
    return "set", how


def _check_apply_types(
    ctx: Context, event: Event, aggregate: Aggregate, target: Field, source: Field, op: str, path: PathT
) -> None:
    where = f"{aggregate.name}.{target.name} ({target.type.text})"
    what = (
        f"{'state' if aggregate.field(source.name) is source else 'event'}.{source.name} ({source.type.text})"
    )
    if op == "set":
        ok = compatible(source.type, target.type)
    elif op in ("add", "subtract"):
        ok = (
            fits(target.type.kind, NUMERIC)
            and fits(source.type.kind, NUMERIC)
            and not (target.type.kind == "int" and source.type.kind == "decimal")
        )
        if ok and (source.optional or target.optional):
            ctx.error(
                path,
                f"cannot {op} {what} to {where}: optional numbers may be None.",
                "make both fields required.",
            )
            return
    else:  # append, remove
        ok = UNCHECKED in (target.type.kind, source.type.kind) or (
            target.type.kind == "list"
            and target.type.item is not None
            and (compatible(source.type, target.type.item) or source.type == target.type)
        )
        if ok and source.optional:
            ctx.error(path, f"cannot {op} the optional {what} to {where}.", "make the event field required.")
            return
    if not ok:
        ctx.error(
            path,
            f"{event.name} cannot {op} {what} {_PREPOSITION.get(op, 'to')} {where}: the types do not fit.",
            "map a field of a compatible type, or change one of the types.",
        )
