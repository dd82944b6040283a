"""The one table that words the language's shape errors: for each kind of pydantic error (and a
few keys that need their own words), what is wrong and how to fix it, in ACCI's voice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from acci_gen.model import SCALARS
from acci_gen.spec import language as lang
from acci_gen.spec.loader import PathT
from acci_gen.spec.locate import Where, what_of
from acci_gen.spec.suggest import did_you_mean, one_of
from acci_gen.spec.values import describe


@dataclass(frozen=True)
class Said:
    """What to tell about one error: where (at the key itself, or at its value), what, the fix."""

    path: PathT
    message: str
    fix: str
    at_key: bool = False


@dataclass(frozen=True)
class _Error:
    """One pydantic error, with what the table needs to word it."""

    type: str
    where: Where
    input: Any
    ctx: dict[str, Any]

    @property
    def key(self) -> str:
        """How the node is named: its key, or 'item N of <key>'."""
        path = self.where.path
        if path and isinstance(path[-1], int):
            parent = next((str(p) for p in reversed(path) if isinstance(p, str)), "the list")
            return f"item {path[-1]} of '{parent}'"
        return f"'{path[-1]}'" if path else "the file"

    @property
    def name(self) -> str:
        return str(self.where.path[-1]) if self.where.path else ""

    @property
    def what(self) -> str:
        return what_of(self.where.owner, self.where.owner_name) or "this mapping"

    @property
    def kind(self) -> str:
        return kind(self.input)


def translate(item: Any, where: Where) -> Said:
    error = _Error(item["type"], where, item["input"], item.get("ctx") or {})
    if error.type in ("too_short", "too_long") and where.path[:1] == ("scenarios",):
        return _instance(error)
    wording = _BY_KEY.get((error.type, error.name)) or _BY_TYPE.get(error.type, _unexpected)
    return wording(error)


def not_a_domain(data: Any) -> Said:
    return Said(
        (),
        f"a domain file must be a mapping with 'domain:', 'aggregates:'... at the top, not {kind(data)}.",
        "start the file with 'domain: <name>'.",
    )


def kind(value: Any) -> str:
    """A value's kind in the words of a YAML file."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"the text {describe(value)}"
    return {dict: "a mapping", list: "a list", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _missing(e: _Error) -> Said:
    parent = e.where.path[:-1]
    return Said(parent, f"{e.what} needs the key '{e.name}'.", f"add '{e.name}:' to it.", at_key=True)


def _extra(e: _Error) -> Said:
    owner = e.where.owner
    known = list(owner.model_fields) if owner is not None else []
    return Said(
        e.where.path, f"{e.key} is not a key of {e.what}.", did_you_mean(e.name, known, what="keys"), True
    )


def _mapping_needed(e: _Error) -> Said:
    path = e.where.path
    if not path:
        return not_a_domain(e.input)
    if (
        path[0] == "scenarios"
        and len(path) >= 4
        and path[2] in ("when", "given", "then")
        and isinstance(path[-1], str)
    ):
        return Said(
            path,
            f"the data of {e.name} must be a mapping of field values, not {e.kind}.",
            f"write '{e.name}: {{field: value, ...}}'.",
        )
    if e.where.owner is lang.Filter and e.name != "any":
        return Said(
            path,
            f"the condition on '{e.name}' must map operators to parameters, not {e.kind}.",
            f"write e.g. '{e.name}: {{eq: <parameter>}}'.",
        )
    target = what_of(e.where.target, e.name) or e.key
    return Said(
        e.where.path,
        f"{target} must be a mapping (key: value lines), not {e.kind}.",
        f"write {target} as indented 'key: value' lines.",
    )


def _list_needed(e: _Error) -> Said:
    return Said(
        e.where.path, f"{e.key} must be a list ('- item' lines), not {e.kind}.", "write it as a list."
    )


#: What the text of a key names, and an example, for "must be ..." messages.
_TEXTS = {
    "domain": ("a snake_case name", "domain: shop"),
    "aggregate": ("the name of an aggregate", "aggregate: User"),
    "identity": ("the name of a state field", "identity: user_id"),
    "event": ("the name of an event", "event: UserCreated"),
    "projection": ("the name of a projection", "projection: user_view"),
    "key": ("the name of a column", "key: id"),
    "table": ("a table name", "table: user_view"),
    "name": ("a snake_case name", "name: create_user"),
    "code": ("a snake_case code", "code: insufficient_funds"),
    "error": ("an error code", "error: not_found"),
    "condition": ("text '<reference> <op> <value>'", "condition: state.balance >= command.amount"),
    "pattern": ("a regular expression in quotes", 'pattern: "^[0-9]{5}$"'),
    "add": ("a reference to an event field", "balance: {add: event.amount}"),
    "subtract": ("a reference to an event field", "balance: {subtract: event.amount}"),
    "append": ("a reference to an event field", "lines: {append: event.line}"),
    "order_by": ("a column, optionally followed by asc or desc", "order_by: [name, created_at desc]"),
    "enum": ("a snake_case value", "enum: [active, disabled]"),
}


def _text_needed(e: _Error) -> Said:
    path = e.where.path
    if e.name == "type":
        return Said(
            path,
            f"a type must be a name, not {e.kind}.",
            f"write one of: {', '.join(SCALARS)}, a name from 'types:', or list[<type>].",
        )
    named = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
    noun, example = _TEXTS.get(named, ("text", ""))
    fix = f"write e.g. '{example}'." if example else "write it as text (quote it)."
    if isinstance(e.input, bool):
        fix = "quote it: YAML reads yes, no, on, off, true and false without quotes as true/false."
    return Said(path, f"{e.key} must be {noun}, not {e.kind}.", fix)


def _bool_needed(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"{e.key} must be true or false, not {e.kind}.",
        f"write '{e.name}: true' or '{e.name}: false'.",
    )


def _whole_number(e: _Error) -> Said:
    if isinstance(e.input, str) and e.input.strip().isdigit():
        fix = f"write it without quotes: '{e.name}: {e.input.strip()}'."
    else:
        fix = f"write e.g. '{e.name}: 1'."
    return Said(e.where.path, f"{e.key} must be a whole number, not {e.kind}.", fix)


def _at_least(e: _Error) -> Said:
    low = e.ctx.get("ge", 0)
    return Said(
        e.where.path,
        f"{e.key} must be at least {low}, not {describe(e.input)}.",
        f"write '{e.name}: {low}' or more.",
    )


def _number(e: _Error) -> Said:
    return Said(e.where.path, f"{e.key} must be a number, not {e.kind}.", f"write e.g. '{e.name}: 0'.")


def _null(e: _Error) -> Said:
    return Said(e.where.path, f"{e.key} has no value.", f"give '{e.name}' a value, or leave the key out.")


#: How the values of a key with a fixed set of values are called: (one, several).
_NOUNS = {
    "precondition": ("precondition", "preconditions"),
    "compatibility": ("compatibility mode", "modes"),
    "decide": ("decision kind", "kinds"),
    "returns": ("kind of result", "kinds"),
    "paginate": ("kind of pagination", "kinds"),
}


def _choice(e: _Error) -> Said:
    choices = [str(c) for c in get_args(e.where.target)] if get_origin(e.where.target) is not None else []
    if e.where.at_key:  # a filter's operator
        return Said(
            e.where.path,
            f"unknown filter operator '{e.input}'.",
            did_you_mean(str(e.input), choices, what="operators"),
            at_key=True,
        )
    noun, nouns = _NOUNS.get(e.name, (f"value of '{e.name}'", "values"))
    return Said(
        e.where.path, f"unknown {noun} {describe(e.input)}.", did_you_mean(str(e.input), choices, what=nouns)
    )


def _true_only(e: _Error) -> Said:
    return Said(e.where.path, f"{e.key} must be true.", f"write '{e.name}: true'.")


def _too_short(e: _Error) -> Said:
    least = e.ctx.get("min_length", 1)
    return Said(
        e.where.path,
        f"{e.key} needs at least {least} item{'s' if least != 1 else ''}.",
        "add the missing items.",
    )


def _instance(e: _Error) -> Said:
    """A scenario's command or event: {Name: {field: value}}, one entry."""
    what = "'when'" if e.name == "when" else "an event"
    return Said(
        e.where.path,
        f"{what} must be one '<Name>: {{field: value, ...}}' entry.",
        "write e.g. 'UserCreated: {user_id: ..., email: ...}'.",
    )


def _field_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"field '{e.name}' must be a type name or a mapping with 'type:', not {e.kind}.",
        f"write '{e.name}: string' or '{e.name}: {{type: string, max_length: 100}}'.",
    )


def _type_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"type '{e.name}' needs exactly one of 'enum:' (an enum) or 'fields:' (an object).",
        "add 'enum: [a, b]' or 'fields: {...}'.",
        at_key=True,
    )


def _emits_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"'emits' must name an event or list events, not {e.kind}.",
        "write 'emits: UserCreated' or 'emits: [UserCreated, ...]'.",
    )


def _reactions_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"the reaction to '{e.name}' must be a mapping, or a list of them (one per version), not {e.kind}.",
        f"write '{e.name}: {{command: ..., map: ...}}' or "
        f"'{e.name}: [{{version: 1, command: ...}}, {{version: 2, command: ...}}]'.",
    )


def _emit_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"an emitted event must be named, not {e.kind}.",
        "write '- UserCreated' or '- {event: UserCreated, map: {...}}'.",
    )


def _value_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"the value of '{e.name}' must be a reference such as 'event.x' or {{value: ...}}, not {e.kind}.",
        "write e.g. 'created_by: metadata.user_id' or 'status: {value: active}'.",
    )


def _apply_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"how the event changes '{e.name}' must be 'event.<field>', an expression, 'ignore', "
        "{value: ...}, {add: event.<field>}, {subtract: ...}, {append: ...} or {remove: ...}.",
        "write e.g. 'email: event.email' or 'balance: {add: event.amount}'.",
    )


def _handler_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"the handler of {e.name} needs exactly one of: {', '.join(lang.HANDLER_ACTIONS)}.",
        "write e.g. 'insert: {id: event.user_id}'.",
        at_key=True,
    )


def _step_form(e: _Error) -> Said:
    if isinstance(e.input, dict) and len(e.input) == 1:
        step = str(next(iter(e.input)))
        return Said(
            (*e.where.path, step),
            f"'{step}' is not an upcast step.",
            did_you_mean(step, lang.STEP_KINDS, what="upcast steps"),
            at_key=True,
        )
    if isinstance(e.input, dict) and len(e.input) > 1:
        return Said(
            e.where.path,
            f"an upcast step does one thing, but this one has {len(e.input)} keys "
            f"({', '.join(map(str, e.input))}).",
            "give each step its own '- ' item, in the order they apply.",
        )
    return Said(
        e.where.path,
        f"an upcast step is one of: {one_of(lang.STEP_KINDS)}, each with its arguments.",
        "write e.g. '- rename: {name: full_name}'.",
    )


def _column_value_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"the value of '{e.name}' must be a reference such as 'event.x', {{value: ...}}, {{add: ...}}, "
        f"{{subtract: ...}}, {{coalesce: [...]}}, {{greatest: ...}} or {{least: ...}}, not {e.kind}.",
        "write e.g. 'total: {add: event.amount}' or 'status: {value: active}'.",
    )


def _role_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"the role '{e.name}' must be 'Aggregate(identity_field)' or a mapping, not {e.kind}.",
        "write e.g. 'source: Account(from_account_id)'.",
    )


def _given_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        "'given' must be a list of events, or (for a command on several aggregates) lists by role.",
        "write 'given: [UserCreated: {...}]' or 'given: {source: [AccountOpened: {...}]}'.",
    )


def _on_rejected_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"'on_rejected' must be dead_letter, ignore or {{send: <Command>, map: {{...}}}}, not {e.kind}.",
        "write e.g. 'on_rejected: ignore' or 'on_rejected: {send: CancelOrder}'.",
    )


def _effect_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        "what a policy does must be a mapping with one of 'send' or 'schedule'.",
        "write e.g. '- send: ReserveStock' or '- {schedule: ExpireReservation, after: 15m, key: event.id}'.",
    )


def _then_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        "'then' must be a list of events or '{error: <code>}'.",
        "write 'then: [UserCreated: {...}]' or 'then: {error: not_found}'.",
    )


def _paging_form(e: _Error) -> Said:
    return Said(
        e.where.path,
        f"{e.key} must be a whole number or the name of an int parameter, not {e.kind}.",
        f"write e.g. '{e.name}: 50', or name an int parameter.",
    )


def _unexpected(e: _Error) -> Said:
    """A pydantic error the table does not know (a new key's constraint): still a fix."""
    return Said(
        e.where.path,
        f"{e.key} is not valid here ({describe(e.input)}).",
        "see docs/domain-language.md for what this key takes.",
    )


_BY_TYPE: dict[str, Callable[[_Error], Said]] = {
    "missing": _missing,
    "extra_forbidden": _extra,
    "model_type": _mapping_needed,
    "dict_type": _mapping_needed,
    "list_type": _list_needed,
    "string_type": _text_needed,
    "bool_type": _bool_needed,
    "int_type": _whole_number,
    "greater_than_equal": _at_least,
    "number_type": _number,
    "null_value": _null,
    "literal_error": _choice,
    "too_short": _too_short,
    "too_long": _too_short,
    "field_form": _field_form,
    "type_form": _type_form,
    "emits_form": _emits_form,
    "emit_form": _emit_form,
    "reactions_form": _reactions_form,
    "value_form": _value_form,
    "apply_form": _apply_form,
    "handler_form": _handler_form,
    "step_form": _step_form,
    "then_form": _then_form,
    "given_form": _given_form,
    "on_rejected_form": _on_rejected_form,
    "effect_form": _effect_form,
    "role_form": _role_form,
    "column_value_form": _column_value_form,
    "paging_form": _paging_form,
}


def _no_events(e: _Error) -> Said:
    return Said(
        e.where.path, f"{e.where.owner_name} must emit at least one event.", "list the event under 'emits:'."
    )


def _no_values(e: _Error) -> Said:
    return Said(
        e.where.path, "'enum' must be a non-empty list of values.", "write 'enum: [active, disabled]'."
    )


def _nothing_added(e: _Error) -> Said:
    return Said(
        e.where.path, "an 'add' step needs at least one field.", "write '- add: {field: default value}'."
    )


#: Where one key needs other words than its error type's.
_BY_KEY: dict[tuple[str, str], Callable[[_Error], Said]] = {
    ("literal_error", "delete"): _true_only,
    ("literal_error", "custom"): _true_only,
    ("too_short", "emits"): _no_events,
    ("too_short", "enum"): _no_values,
    ("too_short", "add"): _nothing_added,
}
