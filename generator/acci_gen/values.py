"""Where the render stage finds EMAIL_PATTERN until it imports it from acci_gen.model (the checks of
values moved to acci_gen.spec.values). Remove once nothing imports it."""

from acci_gen.model import EMAIL_PATTERN

__all__ = ["EMAIL_PATTERN"]
