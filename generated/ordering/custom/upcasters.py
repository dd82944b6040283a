"""Hand-written upcasters of the ordering domain.

acci-gen created this file once and never overwrites it. Each function gets the payload after the
declarative steps of its version (if any) and returns the payload of the next version. Until a
function is written, the generated evolution test of its version fails with its name.
"""

from __future__ import annotations

from typing import Any

_ADDRESS = ("street", "city", "postal_code", "country")


def order_placed_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """OrderPlaced v2 -> v3: the flat address fields move into one `shipping_address` object."""
    rest = {key: value for key, value in data.items() if key not in _ADDRESS}
    return {**rest, "shipping_address": {key: data[key] for key in _ADDRESS}}
