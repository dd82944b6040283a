"""Fields and the named types (enums and nested objects) of `types:`."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import Field, Tag

from acci_gen.spec.language.base import Given, Number, Snake, Spec, TypeName, form, kind_of


class FieldSpec(Spec):
    """A field with its type and constraints."""

    what: ClassVar[str] = "field '{name}'"

    type: TypeName
    """A scalar (string, int, decimal, bool, uuid, date, datetime, email), a name from `types:`,
    or list[<type>]."""
    description: str | None = None
    """What the field means."""
    optional: bool = False
    """The field may be absent or null (its Python type is `T | None`)."""
    default: Any = None
    """The value when the field is absent (scalars except uuid/date/datetime, enum values, [] for
    lists)."""
    min: Given[Number] = None
    """Smallest allowed value (int, decimal)."""
    max: Given[Number] = None
    """Largest allowed value (int, decimal)."""
    min_length: Given[Annotated[int, Field(ge=0)]] = None
    """Shortest allowed text (string, email)."""
    max_length: Given[Annotated[int, Field(ge=0)]] = None
    """Longest allowed text (string, email)."""
    pattern: Given[str] = None
    """A regular expression a string must match (searched; anchor it with ^...$). Needs `example`."""
    precision: Given[Annotated[int, Field(ge=1, le=1000)]] = None
    """Most significant digits of a decimal (pydantic max_digits, SQL numeric(precision, scale))."""
    scale: Given[Annotated[int, Field(ge=0, le=1000)]] = None
    """Most digits after the point of a decimal (pydantic decimal_places); needs `precision`."""
    min_items: Given[Annotated[int, Field(ge=0)]] = None
    """Fewest list items."""
    max_items: Given[Annotated[int, Field(ge=0)]] = None
    """Most list items."""
    example: Any = None
    """A valid value, used by the generated tests instead of a made-up sample."""


def _field_form(value: Any) -> str | None:
    return {"text": "name", "mapping": "spec"}.get(kind_of(value) or "")


#: A field: a type name (`user_id: uuid`) or a mapping with `type:` and constraints.
FieldDef = Annotated[
    Union[Annotated[TypeName, Tag("name")], Annotated[FieldSpec, Tag("spec")]],  # noqa: UP007
    form(_field_form, "field_form"),
]
#: Fields by name (snake_case), in the order written.
Fields = dict[Snake, FieldDef] | None


# -- types ---------------------------------------------------------------------------------------


class EnumType(Spec):
    """An enum: a closed set of snake_case values."""

    what: ClassVar[str] = "type '{name}'"

    description: str | None = None
    """What the type means."""
    enum: Annotated[list[str], Field(min_length=1)]
    """The values, e.g. [active, disabled]."""


class ObjectType(Spec):
    """A nested object: a named set of fields, usable as a field type anywhere in the file."""

    what: ClassVar[str] = "type '{name}'"

    description: str | None = None
    """What the type means."""
    fields: Fields
    """Its fields."""


def _named_type_form(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "enum"  # reported as "must be a mapping"
    if ("enum" in value) == ("fields" in value):
        return None
    return "enum" if "enum" in value else "object"


NamedType = Annotated[
    Union[Annotated[EnumType, Tag("enum")], Annotated[ObjectType, Tag("object")]],  # noqa: UP007
    form(_named_type_form, "type_form"),
]
