"""Integration events: public events mapped from internal ones (`integration_events:` and
`publish: true`), and other domains' public events turned into commands (`consumes:`, read from
the publisher's vendored AsyncAPI contract).

Public fields are scalars, public types (`public_types:`, acci_gen.spec.checks.public_types) or
lists of them: a contract other teams generate code from names none of this domain's `types:`,
so that those can change. Mappings and conditions read `event.<field>` (the internal
event when publishing, the public one when consuming) and, when consuming, `envelope.<field>`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from acci_gen.model import (
    INTEGRATION_ENVELOPE_FIELDS,
    SCALARS,
    ConsumedEvent,
    Consumption,
    Domain,
    Event,
    Expr,
    Field,
    IntegrationEvent,
    NamedType,
    PublicVersion,
    TypeRef,
)
from acci_gen.names import pascal, snake, snake_problem, template_names
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, Scopes
from acci_gen.spec.checks.public_mapping import conditions, mapping
from acci_gen.spec.checks.public_types import (
    check_public_types,
    parse_public_fields,
)
from acci_gen.spec.contract import Contract, ContractError, read_contract
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean


def consumer_name(domain: str, publisher: str) -> str:
    """The durable consumer (and the scope of its command ids) of `domain` for `publisher`."""
    return f"{domain}_from_{publisher}"


def public_class(name: str, version: int) -> str:
    """The class of a public event version in the publisher's integration module."""
    return f"{name}V{version}"


def consumed_class(publisher: str, name: str, version: int) -> str:
    """The class of another domain's public event version in the consumer's integration module."""
    return f"{pascal(publisher)}{name}V{version}"


def check_integration(ctx: Context, spec: lang.Domain, domain: Domain, base: Path | None) -> None:
    public = check_public_types(ctx, spec.public_types or {})
    domain.public_types = list(public.values())
    published: dict[str, PathT] = {}
    for name, event_spec in (spec.events or {}).items():
        event = domain.event(name)
        if event_spec.publish and event is not None:
            _shorthand(ctx, event, spec, published, domain)
    for name, item in (spec.integration_events or {}).items():
        _integration_event(ctx, name, item, published, domain, public)
    for publisher, consumption in (spec.consumes or {}).items():
        _consumption(ctx, publisher, consumption, domain, base)
    _class_clashes(ctx, domain)


# -- publishing ------------------------------------------------------------------------------------


def _shorthand(
    ctx: Context, event: Event, spec: lang.Domain, published: dict[str, PathT], domain: Domain
) -> None:
    path: PathT = ("events", event.name, "publish")
    if event.name in (spec.integration_events or {}):
        ctx.error(
            path,
            f"{event.name} is published by 'publish: true' and also declared under 'integration_events'.",
            "remove 'publish: true' (the integration event says what is published), or rename the "
            "integration event.",
        )
        return
    for field in event.fields:
        if not _public_type(field.type):
            ctx.error(
                path,
                f"{event.name} cannot be published as it is: its field '{field.name}' is a "
                f"{field.type.text}, and 'publish: true' publishes only scalars and lists of scalars "
                "(a contract names none of this domain's types).",
                f"declare a public shape under 'integration_events: {event.name}:' (its enums and objects "
                "under 'public_types:', mapped by value and field by field) with a 'map' from the event.",
            )
            return
    published[event.name] = path
    domain.integration_events.append(
        IntegrationEvent(
            event.name,
            event.name,
            1,
            [_copy(f) for f in event.fields],
            [(f.name, Expr("event", f.name)) for f in event.fields],
            description=event.description,
            shorthand=True,
        )
    )


def _copy(field: Field) -> Field:
    return dataclasses.replace(field)


def _integration_event(
    ctx: Context,
    name: str,
    item: lang.IntegrationEvent,
    published: dict[str, PathT],
    domain: Domain,
    public_types: dict[str, NamedType],
) -> None:
    path: PathT = ("integration_events", name)
    if not ctx.check_pascal(name, "integration event", path):
        return
    if any(e.name == name for e in domain.integration_events):  # a publish: true of the same name
        return
    fields = parse_public_fields(ctx, item.fields, (*path, "fields"), public_types)
    versions = _public_versions(ctx, item, path, public_types)
    event = domain.event(item.event)
    if event is None:
        if not ctx.broken("events", item.event):
            ctx.error(
                (*path, "event"),
                f"integration event {name} is mapped from '{item.event}', which is not an event.",
                did_you_mean(item.event, [e.name for e in domain.events], what="events"),
            )
        return
    if event.name in published:
        line = ctx.doc.pos(published[event.name], key=True)[0]
        ctx.error(
            (*path, "event"),
            f"{event.name} is already published (line {line}); an internal event is published as "
            "one public event.",
            "map it once; a new public shape is a new 'version' of the same integration event.",
        )
        return
    published[event.name] = (*path, "event")
    scopes: Scopes = {"event": {f.name: f for f in event.fields}}
    public = IntegrationEvent(
        name, event.name, item.version, fields, versions=versions, description=item.description or ""
    )
    public.mapping = mapping(
        ctx,
        fields,
        item.map or {},
        (*path, "map"),
        scopes,
        f"integration event {name}",
        event.name,
        (ctx.types, public_types),
    )
    public.conditions = conditions(ctx, item.when or [], (*path, "when"), scopes, ctx.types)
    domain.integration_events.append(public)


def _public_type(ref: TypeRef) -> bool:
    item = ref.item if ref.kind == "list" and ref.item is not None else ref
    return item.kind in SCALARS


def _public_versions(
    ctx: Context, item: lang.IntegrationEvent, path: PathT, public_types: dict[str, NamedType]
) -> list[PublicVersion]:
    versions: list[PublicVersion] = []
    for key, older in (item.versions or {}).items():
        vpath = (*path, "versions", key)
        number = int(key) if key.isdigit() and int(key) >= 1 else None
        if number is None:
            ctx.error(vpath, f"'{key}' is not a version number.", "use 1, 2, ... as keys.", key=True)
            continue
        if number >= item.version:
            ctx.error(
                vpath,
                f"v{number} is not older than the current public version {item.version}.",
                f"list only versions below {item.version}; the current shape is 'fields'.",
                key=True,
            )
            continue
        fields = parse_public_fields(ctx, older.fields, (*vpath, "fields"), public_types)
        versions.append(PublicVersion(number, fields, older.description or ""))
    return sorted(versions, key=lambda v: v.version)


def _consumption(
    ctx: Context, publisher: str, item: lang.Consumption, domain: Domain, base: Path | None
) -> None:
    path: PathT = ("consumes", publisher)
    problem = snake_problem(publisher, "domain")
    if problem:
        ctx.error(path, problem[0], problem[1], key=True)
        return
    file = (base or Path.cwd()) / item.contract
    try:
        contract = read_contract(file, prefix=pascal(publisher))
    except ContractError as error:
        ctx.error(
            (*path, "contract"),
            f"the contract '{item.contract}' cannot be used: {error}.",
            f"vendor {publisher}'s generated asyncapi.yaml (generated/{publisher}/asyncapi.yaml of its "
            "repository) at this path, relative to this domain file.",
        )
        return
    if contract.domain != publisher:
        ctx.error(
            (*path, "contract"),
            f"the contract '{item.contract}' is the one of domain '{contract.domain}', not '{publisher}'.",
            f"name the publishing domain '{contract.domain}', or vendor {publisher}'s contract.",
        )
        return
    if len(consumer_name(domain.name, publisher)) > 63:
        ctx.error(
            path,
            f"the consumer '{consumer_name(domain.name, publisher)}' has a name longer than 63 characters "
            "(the durable JetStream consumer and the scope of its command ids).",
            "use a shorter domain name.",
            key=True,
        )
        return
    consumption = Consumption(publisher, item.contract)
    for name, reactions in item.on.items():
        rpath: PathT = (*path, "on", name)
        versions = contract.events.get(name)
        if versions is None:
            ctx.error(
                rpath,
                f"{publisher}'s contract has no public event '{name}'.",
                did_you_mean(name, list(contract.events), what=f"public events of {publisher}"),
                key=True,
            )
            continue
        if isinstance(reactions, lang.Reaction):
            consumed = _reaction(ctx, publisher, name, reactions, contract, rpath, domain)
            if consumed is not None:
                consumption.events.append(consumed)
            continue
        # Several versions at once (a publisher migrating from v1 to v2): one reaction each.
        seen: dict[int, int] = {}
        for index, reaction in enumerate(reactions):
            ipath: PathT = (*rpath, index)
            if reaction.version is None:
                ctx.error(
                    ipath,
                    f"the reactions to {name} are a list, and reaction {index + 1} names no version.",
                    f"add 'version: <n>' to each ({name}'s versions in the contract: "
                    f"{', '.join(str(v) for v in sorted(versions))}).",
                )
                continue
            if reaction.version in seen:
                ctx.error(
                    (*ipath, "version"),
                    f"{name} v{reaction.version} has two reactions (items {seen[reaction.version] + 1} "
                    f"and {index + 1}); a message of one version becomes one command.",
                    "remove one of them, or give it the other version it was meant for.",
                )
                continue
            seen[reaction.version] = index
            consumed = _reaction(ctx, publisher, name, reaction, contract, ipath, domain)
            if consumed is not None:
                consumption.events.append(consumed)
    consumption.types = _used_types(consumption, contract.types)
    domain.consumes.append(consumption)


def _used_types(consumption: Consumption, types: dict[str, NamedType]) -> list[NamedType]:
    """The contract's public types the consumed versions name, each before the objects using it."""
    used: dict[str, NamedType] = {}

    def visit(ref: TypeRef) -> None:
        named = types.get(ref.item.name if ref.item is not None else ref.name)
        if named is None or named.name in used or not (ref.public or (ref.item and ref.item.public)):
            return
        for field in named.fields:
            visit(field.type)
        used[named.name] = named

    for consumed in consumption.events:
        for field in consumed.fields:
            visit(field.type)
    return list(used.values())


def _reaction(
    ctx: Context,
    publisher: str,
    name: str,
    reaction: lang.Reaction,
    contract: Contract,
    rpath: PathT,
    domain: Domain,
) -> ConsumedEvent | None:
    """One reaction to one version of a consumed public event, checked against the contract."""
    versions = contract.events[name]
    version = reaction.version if reaction.version is not None else max(versions)
    if version not in versions:
        ctx.error(
            (*rpath, "version"),
            f"{publisher}'s contract has no version {version} of {name}.",
            f"use one of: {', '.join(str(v) for v in sorted(versions))}.",
        )
        return None
    fields = versions[version]
    command = domain.command(reaction.command)
    if command is None:
        if not ctx.broken("commands", reaction.command):
            ctx.error(
                (*rpath, "command"),
                f"'{reaction.command}' is not a command of this domain.",
                did_you_mean(reaction.command, [c.name for c in domain.commands], what="commands"),
            )
        return None
    envelope = {
        key: Field(key, TypeRef(kind, kind), optional=key in ("occurred_at", "correlation_id"))
        for key, kind in INTEGRATION_ENVELOPE_FIELDS.items()
    }
    scopes: Scopes = {"event": {f.name: f for f in fields}, "envelope": envelope}
    consumed = ConsumedEvent(name, version, fields, command.name)
    consumed.mapping = mapping(
        ctx,
        command.fields,
        reaction.map or {},
        (*rpath, "map"),
        scopes,
        f"command {command.name}",
        f"{name} v{version}",
        (contract.types, ctx.types),
    )
    consumed.conditions = conditions(
        ctx, reaction.when or [], (*rpath, "when"), scopes, {**ctx.types, **contract.types}
    )
    return consumed


def reaction_function(publisher: str, name: str, version: int) -> str:
    """The function that turns a consumed event version into a command."""
    return f"on_{publisher}_{snake(name)}_v{version}"


def _class_clashes(ctx: Context, domain: Domain) -> None:
    """The classes of the integration module (one per public and consumed event version) and its
    reaction functions must be distinct names."""
    functions: dict[str, str] = {}
    for consumption in domain.consumes:
        for consumed in consumption.events:
            function = reaction_function(consumption.domain, consumed.name, consumed.version)
            if function in functions:
                ctx.error(
                    ("consumes", consumption.domain, "on", consumed.name),
                    f"the reactions to {functions[function]} and to {consumption.domain}'s {consumed.name} "
                    f"both become the function '{function}'.",
                    "consume them under publishing domains whose names do not run into the event names "
                    "(underscores are dropped between them).",
                    key=True,
                )
            functions[function] = f"{consumption.domain}'s {consumed.name}"
    imported = template_names("integration.py.jinja2")
    for named in domain.public_types:
        if named.name in imported:
            ctx.error(
                ("public_types", named.name),
                f"'{named.name}' is a name the generated integration module imports itself.",
                f"rename the public type, e.g. '{named.name}Type'.",
                key=True,
            )
    for consumption in domain.consumes:
        for named in consumption.types:
            if named.name in imported:
                ctx.error(
                    ("consumes", consumption.domain),
                    f"{consumption.domain}'s public type becomes the class '{named.name}', a name the "
                    "generated integration module imports itself.",
                    "consume it under a publishing domain whose name does not run into the type name.",
                    key=True,
                )
    seen: dict[str, str] = {t.name: f"this domain's public type {t.name}" for t in domain.public_types}
    for public in domain.integration_events:
        for version in public.all_versions():
            seen[public_class(public.name, version.version)] = (
                f"this domain's integration event {public.name}"
            )
    for consumption in domain.consumes:
        for consumed in consumption.events:
            name = consumed_class(consumption.domain, consumed.name, consumed.version)
            what = f"{consumption.domain}'s {consumed.name} v{consumed.version}"
            if name in seen:
                ctx.error(
                    ("consumes", consumption.domain, "on", consumed.name),
                    f"{seen[name]} and {what} both become the class '{name}'.",
                    "rename this domain's integration event."
                    if seen[name].startswith("this domain's")
                    else "consume them under publishing domains whose names do not run into the event names.",
                    key=True,
                )
            seen[name] = what
        for named in consumption.types:
            if named.name in seen and not seen[named.name].startswith(f"{consumption.domain}'s"):
                type_name = named.name.removeprefix(pascal(consumption.domain))
                ctx.error(
                    ("consumes", consumption.domain),
                    f"{seen[named.name]} and {consumption.domain}'s public type {type_name} both "
                    f"become the class '{named.name}'.",
                    "rename this domain's public type or integration event.",
                    key=True,
                )
            seen[named.name] = f"{consumption.domain}'s public type"
