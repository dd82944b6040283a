"""Event payload classes: the domain's JSON Schema through datamodel-code-generator."""

from __future__ import annotations

import re
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from acci_gen.emit.docs.jsonschema import ROOT_TITLE, domain_schema
from acci_gen.errors import GenerationError
from acci_gen.model import Domain


def _docstring(text: str) -> str:
    """One line of docstring text that cannot end the docstring early."""
    cleaned = " ".join(text.split()).replace("\\", "/").replace('"""', "'''")
    return cleaned.rstrip('"') or "-"


def render_events(domain: Domain, header: str) -> str:
    """The source of `events.py`: named types (enums, objects) and one class per event."""
    if not domain.types and not domain.events:
        return f'{header}\n"""The {domain.name} domain has no events yet."""\n'
    from datamodel_code_generator import InputFileType, generate
    from datamodel_code_generator.enums import DataModelType, DefaultValueType
    from datamodel_code_generator.format import Formatter, PythonVersion

    data: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for named in domain.types:
        if named.description:
            data[named.name]["acci_doc"] = _docstring(named.description)
        if not named.is_enum:
            data[named.name]["acci_frozen"] = True
    for event in domain.events:
        data[event.name]["acci_doc"] = _docstring(
            event.description or f"{event.name}: an event of {event.aggregate}."
        )
        data[event.name]["acci_event_type"] = event.name
        data[event.name]["acci_schema_version"] = event.version
    with resources.as_file(resources.files("acci_gen") / "templates" / "dmcg") as template_dir:
        code = generate(
            domain_schema(domain),
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            target_python_version=PythonVersion.PY_311,
            disable_timestamp=True,
            formatters=[Formatter.BUILTIN],
            use_annotated=True,
            field_constraints=True,
            extra_fields="forbid",
            strict_nullable=True,
            use_subclass_enum=True,
            use_standard_collections=True,
            use_union_operator=True,
            use_title_as_name=True,
            set_default_enum_member=True,
            use_double_quotes=True,
            capitalise_enum_members=False,
            custom_template_dir=Path(template_dir),
            extra_template_data=data,
            additional_imports=["typing.ClassVar"] if domain.events else None,
            custom_file_header=header,
            deserialize_default_values=[DefaultValueType.Decimal],
        )
    if not isinstance(code, str):
        raise GenerationError("datamodel-code-generator returned several modules; expected one.")
    return _strip_root(code)


def _strip_root(code: str) -> str:
    pattern = re.compile(rf"\nclass {ROOT_TITLE}\(BaseModel\):\n(?:    .*\n)*(?:\n\n|$)")
    stripped, count = pattern.subn("\n", code, count=1)
    if count != 1:
        raise GenerationError(f"could not find the {ROOT_TITLE} class in datamodel-code-generator's output.")
    stripped = stripped.rstrip("\n") + "\n"
    if "BaseModel" not in stripped.split("from pydantic import", 1)[-1].split("\n\n", 1)[1]:
        stripped = re.sub(r"(from pydantic import [^\n]*)\bBaseModel, ", r"\1", stripped)
    return stripped
