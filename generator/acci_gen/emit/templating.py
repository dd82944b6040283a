"""The jinja2 environment of the code templates.

Every `{{ ... }}` must output `Code` (what a function of `emit.text` rendered, or a view built
from such pieces), an identifier, a number, or a Python constant: anything else (a description,
a message, a path) raises here, when the template renders, instead of reaching the output raw.
The filters are the rendering functions of `emit.text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import jinja2

from acci_gen import names
from acci_gen.emit.text import Code, py_comment, py_docstring, py_long_str, py_str, py_value
from acci_gen.errors import GenerationError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class UnrenderedText(GenerationError):
    """A template tried to output text that no rendering function produced (a bug of acci-gen)."""


def _finalize(value: Any) -> Any:
    if isinstance(value, Code):
        return value
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _IDENTIFIER.match(value):
        return value
    raise UnrenderedText(
        f"a template output {value!r} without a rendering filter; pass it through py_str, "
        "docstring, py_value or comment (acci_gen.emit.text)."
    )


def _names(items: Iterable[Any]) -> Code:
    """Identifiers or Code, comma-separated (a tuple's items, a signature's arguments)."""
    return Code(", ".join(str(_finalize(item)) for item in items))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("acci_gen", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python source: the finalizer and the filters below do its escaping
        finalize=_finalize,
    )
    env.filters.update(
        py_str=py_str,
        long_str=py_long_str,
        docstring=py_docstring,
        py_value=py_value,
        comment=py_comment,
        names=_names,
    )
    env.globals.update(TENANT=names.TENANT, AFTER=names.KEYSET_AFTER)
    return env


def render(template: str, **context: Any) -> str:
    """The template's text, ending in exactly one newline."""
    try:
        text = environment().get_template(template).render(**context)
    except UnrenderedText as error:
        raise UnrenderedText(f"{template}: {error}") from None
    return text.rstrip("\n") + "\n"
