"""Where a pydantic error is: its location walked along the language's types, with the tags of
tagged unions removed (they are not in the document), the model that holds the key, and the type
declared there."""

from __future__ import annotations

from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, Tag

from acci_gen.spec import language as lang
from acci_gen.spec.loader import PathT


@dataclass(frozen=True)
class Where:
    """An error's place: its path in the document (union tags removed), the model that holds the
    last key, and the declared type there."""

    path: PathT
    error: str = ""
    owner: type[BaseModel] | None = None
    owner_name: str = ""
    target: Any = None
    #: The error is about a mapping's key, not its value.
    at_key: bool = False


def locate(loc: tuple[Any, ...], error: str = "") -> Where:
    """Walk the language's types along pydantic's `loc`."""
    tp: Any = lang.Domain
    owner: type[BaseModel] | None = None
    owner_name = ""
    path: list[str | int] = []
    at_key = False
    key_type: Any = None
    for part in loc:
        tp = _bare(tp)
        tags = _tags(tp)
        if tags is not None and part in tags:
            tp = tags[part]
            continue
        if part == "[key]":
            at_key, tp = True, key_type
            continue
        key_type = get_args(tp)[0] if get_origin(tp) is dict else None
        path.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner, owner_name = tp, _name_of(path[:-1])
            info = tp.model_fields.get(str(part))
            tp = info.annotation if info is not None else _extra_type(tp)
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        else:
            tp = None
    return Where(tuple(path), error, owner, owner_name, _bare(tp), at_key)


def _name_of(path: list[str | int]) -> str:
    """How a mapping at `path` is named in messages: its key; an item of a list, the list's key
    (the reactions to 'OrderPlaced', not to '0')."""
    for part in reversed(path):
        if not isinstance(part, int):
            return part
    return ""


def _bare(tp: Any) -> Any:
    """The type without Annotated and without None of an Optional."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, UnionType) and type(None) in get_args(tp):
            members = [a for a in get_args(tp) if a is not type(None)]
            tp = members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
        else:
            return tp


def _tags(tp: Any) -> dict[str, Any] | None:
    """A tagged union's members by tag (pydantic puts the tag into the error's location)."""
    if get_origin(tp) not in (Union, UnionType):
        return None
    members = {}
    for member in get_args(tp):
        for meta in getattr(member, "__metadata__", ()):
            if isinstance(meta, Tag):
                members[meta.tag] = member
    return members or None


def _extra_type(model: type[BaseModel]) -> Any:
    hints = get_type_hints(model, include_extras=True)
    extra = hints.get("__pydantic_extra__")
    return get_args(extra)[1] if extra is not None else None


def what_of(model: Any, name: str) -> str:
    text = getattr(model, "what", "") if isinstance(model, type) else ""
    return text.format(name=name) if text else ""
