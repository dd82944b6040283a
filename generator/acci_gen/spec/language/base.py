"""What every construct of the language shares: strict closed models, names, the forms a key
takes (chosen by a callable discriminator from the value itself), and `Given[...]` for keys that
need a value when they are written."""

from __future__ import annotations

import math
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, TypeVar, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from acci_gen.model import SCALARS

PASCAL = r"^[A-Z][A-Za-z0-9]*$"
SNAKE = r"^[a-z][a-z0-9_]*$"

#: The upcast step kinds, in the order the docs list them.
STEP_KINDS = ("add", "rename", "remove", "map", "split", "combine")
#: How a projection handler changes its table.
HANDLER_ACTIONS = ("insert", "upsert", "update", "delete", "custom")
#: How an event changes a state field, besides a plain reference.
APPLY_OPS = ("value", "add", "subtract", "append", "remove")
#: Errors every command can fail with, besides the codes of its rules.
BUILTIN_ERRORS = ("already_exists", "not_found", "invalid")

# Names are validated by acci_gen.names (with reserved words and a suggested spelling); the
# JSON Schema carries their patterns so that editors flag them too.
Pascal = Annotated[str, WithJsonSchema({"type": "string", "pattern": PASCAL})]
Snake = Annotated[str, WithJsonSchema({"type": "string", "pattern": SNAKE})]
#: A field type: checked against the scalars and `types:` by acci_gen.spec.checks.fields.
TypeName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {"enum": list(SCALARS)},
                {"pattern": r"^\s*(list\[\s*[A-Za-z][A-Za-z0-9_]*\s*\]|[A-Z][A-Za-z0-9]*)\s*$"},
            ],
        }
    ),
]

T = TypeVar("T")


def _present(value: T | None) -> T:
    if value is None:
        raise PydanticCustomError("null_value", "a value is needed")
    return value


def _not_null_in_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
    if len(schema["anyOf"]) == 1:
        schema.update(schema.pop("anyOf")[0])
    schema.pop("default", None)


#: An optional key without a natural default: absent means None, but `key:` with no value is an
#: error (it is one today, and a key written without its value is usually a slip).
Given = Annotated[
    Union[T, None],  # noqa: UP007
    AfterValidator(_present),
    Field(json_schema_extra=_not_null_in_schema),
]


def _number(value: Any) -> int | float | Decimal:
    if isinstance(value, str):  # a decimal written as a string keeps its digits: "0.10"
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = Decimal("nan")
        if number.is_finite():
            return number
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PydanticCustomError("number_type", "a number is needed")
    return value


#: An int or a float as written, or a decimal as a string (a bound of an int or decimal field):
#: never a bool, nor .inf/.nan.
Number = Annotated[
    Any,
    AfterValidator(_number),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*-?[0-9.]+\s*$"}]}),
]


def form(choose: Any, error: str) -> Discriminator:
    """A discriminator that picks a union member from the value; `error` when none fits."""
    return Discriminator(choose, custom_error_type=error, custom_error_message=error)


def one_key(value: Any, keys: Collection[str]) -> str | None:
    """The key of a one-key mapping whose key is one of `keys` (the form `{add: ...}` and the like
    take), else None."""
    if isinstance(value, dict) and len(value) == 1 and (key := next(iter(value))) in keys:
        return str(key)
    return None


def kind_of(value: Any) -> str | None:
    """'text' or 'mapping' or 'list' for the forms a key takes; None for anything else."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return None


class Spec(BaseModel):
    """A construct of the language: strict, closed (no keys it does not define)."""

    model_config = ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True, frozen=True)

    #: How error messages name an instance; `{name}` is its key in the document.
    what: ClassVar[str] = "this mapping"

    def written(self, key: str) -> bool:
        """Whether the document wrote `key` (for keys whose absence differs from null)."""
        return key in self.model_fields_set
