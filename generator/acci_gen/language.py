"""Where the render stage finds METADATA_FIELDS until it imports it from acci_gen.model (the
language itself is defined in acci_gen.spec.language). Remove once nothing imports it."""

from acci_gen.model import ENVELOPE_FIELDS, METADATA_FIELDS

__all__ = ["ENVELOPE_FIELDS", "METADATA_FIELDS"]
