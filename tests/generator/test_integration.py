"""Integration events in acci-gen: released public shapes frozen in the lock file (by the domain's
compatibility mode), the AsyncAPI contract (valid, read back by a consumer exactly as declared),
and the vendored contract of the example kept in step with its publisher."""

from __future__ import annotations

import copy
import importlib
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from acci_gen.cli import main
from acci_gen.spec.contract import read_contract
from acci_gen.spec.public_lock import compatible_change
from genhelp import ROOT

CASE = ROOT / "tests" / "generator" / "cases" / "integration"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the shipping case (which publishes and consumes) and its vendored contract."""
    (tmp_path / "domains").mkdir()
    shutil.copy(CASE / "domain.yaml", tmp_path / "domains" / "shipping.yaml")
    shutil.copytree(CASE / "contracts", tmp_path / "domains" / "contracts")
    return tmp_path


def run(project: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    old = Path.cwd()
    try:
        os.chdir(project)
        code = main(list(args))
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def edit(project: Path, old: str, new: str) -> None:
    path = project / "domains" / "shipping.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.slow  # generates (OpenAPI child)
def test_the_lock_records_released_public_shapes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(project, "generate", capsys=capsys)
    assert code == 0, err
    lock = yaml.safe_load((project / "domains" / "shipping.lock.json").read_text(encoding="utf-8"))
    public = lock["integration_events"]
    assert sorted(public) == ["ParcelPrepared", "ShipmentSent"]
    assert sorted(public["ParcelPrepared"]) == ["1", "2"]
    assert public["ParcelPrepared"]["2"]["fields"]["weight_kg"] == {"type": "decimal", "optional": True}
    assert run(project, "check", capsys=capsys)[0] == 0


@pytest.mark.slow  # generates (OpenAPI child)
def test_a_breaking_change_to_a_released_public_shape_fails_check(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "generate", capsys=capsys)[0] == 0
    edit(project, "      weight_kg: {type: decimal, optional: true}\n", "")
    code, _, err = run(project, "check", capsys=capsys)
    assert code == 2
    assert "Traceback" not in err
    assert (
        "error (at integration_events.ParcelPrepared.fields): integration event ParcelPrepared v2 changed "
        "after it was released: field 'weight_kg' was removed; its consumers read v2 as released." in err
    )
    assert "fix: restore v2's fields (a released version may only gain optional fields)." in err
    assert "set 'version: 3' with the new fields, keep v2 under 'versions: 2:'" in err
    assert "react to v3 ('version: 3' in their 'consumes:' entry" in err
    # generate refuses too, and writes nothing.
    assert run(project, "generate", capsys=capsys)[0] == 2


@pytest.mark.slow  # generates twice (OpenAPI child)
def test_a_required_field_added_to_a_released_version_breaks_it_an_optional_one_does_not(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "generate", capsys=capsys)[0] == 0
    edit(
        project,
        "      channel: string\n",
        "      channel: string\n      depot: {type: string, optional: true}\n",
    )
    code, _, err = run(project, "generate", capsys=capsys)
    assert code == 0, err
    lock = (project / "domains" / "shipping.lock.json").read_text(encoding="utf-8")
    assert '"depot"' in lock  # now held too: removing it again would break its readers
    edit(project, "      depot: {type: string, optional: true}\n", "      depot: string\n")
    edit(
        project,
        "      channel: {value: warehouse}\n",
        "      channel: {value: warehouse}\n      depot: {value: main}\n",
    )
    code, _, err = run(project, "check", capsys=capsys)
    assert code == 2
    assert "integration event ParcelPrepared v2 changed after it was released: field 'depot' changed" in err


@pytest.mark.slow  # generates three times (OpenAPI child)
def test_public_types_are_frozen_with_the_versions_that_use_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A released version holds its public enums' values and objects' fields, without their names:
    a new enum value breaks it (consumers validate the values they read); an object's fields follow
    the field rules."""
    assert run(project, "generate", capsys=capsys)[0] == 0
    lock = yaml.safe_load((project / "domains" / "shipping.lock.json").read_text(encoding="utf-8"))
    released = lock["integration_events"]["ParcelPrepared"]["2"]["fields"]
    assert released["service"] == {"type": {"enum": ["post", "courier", "drone"]}, "optional": True}
    assert released["sizes"]["type"] == {
        "list": {"object": {"length_cm": {"type": "int"}, "weight_grams": {"type": "decimal"}}}
    }
    # An optional field of an object: every consumer still reads it (and the lock now holds it).
    edit(
        project,
        "      length_cm: int\n\n",
        "      length_cm: int\n      depth_cm: {type: int, optional: true}\n\n",
    )
    code, _, err = run(project, "generate", capsys=capsys)
    assert code == 0, err
    lock = yaml.safe_load((project / "domains" / "shipping.lock.json").read_text(encoding="utf-8"))
    held = lock["integration_events"]["ParcelPrepared"]["2"]["fields"]
    assert held["size"]["type"]["object"]["depth_cm"] == {"type": "int", "optional": True}
    # A required one breaks v2, named down to the object's field (here without the mapping, which
    # would refuse it first: the internal object has no such field).
    now = copy.deepcopy(held)
    now["size"]["type"]["object"]["height_cm"] = {"type": "int"}
    assert compatible_change(held, now) == (
        "size.height_cm",
        "the object field 'size': required field 'height_cm' was added",
    )
    now["size"]["type"]["object"]["length_cm"] = {"type": "decimal"}
    assert compatible_change(held, now) is not None
    # A value added to an enum breaks the versions that use it, with the fix for consumers.
    edit(project, "    enum: [post, courier, drone]\n", "    enum: [post, courier, drone, bike]\n")
    code, _, err = run(project, "check", capsys=capsys)
    assert code == 2
    assert "error (at integration_events.ParcelPrepared.fields): integration event ParcelPrepared v2" in err
    assert "field 'service' changed from" in err and '"bike"' in err
    assert "set 'version: 3' with the new fields" in err
    # Renaming a public type changes nothing consumers read: the lock holds no names.
    edit(project, "    enum: [post, courier, drone, bike]\n", "    enum: [post, courier, drone]\n")
    path = project / "domains" / "shipping.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Service", "Carrier2"), encoding="utf-8")
    code, _, err = run(project, "check", capsys=capsys)
    assert "ParcelPrepared" not in err, err


@pytest.mark.slow  # generates twice (OpenAPI child)
def test_older_released_versions_stay_declared_unless_the_mode_is_backward(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "generate", capsys=capsys)[0] == 0
    edit(
        project,
        "    versions:\n      1:\n        description: The first release had no channel.\n"
        "        fields:\n          parcel_id: uuid\n          order_id: uuid\n",
        "",
    )
    code, _, err = run(project, "check", capsys=capsys)
    assert code == 2
    assert "integration event ParcelPrepared v1 was released but is no longer declared" in err
    edit(project, "description: Parcels for placed orders.", "description: Parcels.\ncompatibility: backward")
    code, _, err = run(project, "check", capsys=capsys)
    assert "ParcelPrepared v1" not in err


@pytest.mark.slow  # generates (OpenAPI child)
def test_a_released_integration_event_cannot_disappear(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "generate", capsys=capsys)[0] == 0
    edit(project, "    publish: true\n", "")
    code, _, err = run(project, "check", capsys=capsys)
    assert code == 2
    assert "integration event ShipmentSent was released but is gone" in err
    edit(project, "description: Parcels for placed orders.", "description: Parcels.\ncompatibility: none")
    assert "ShipmentSent" not in run(project, "check", capsys=capsys)[2]


def test_the_contract_is_asyncapi_3_and_reads_back_as_declared() -> None:
    document = yaml.safe_load((ROOT / "generated" / "ordering" / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"]["OrderPlaced"]["address"] == "ordering.{tenant}.OrderPlaced"
    assert document["operations"]["publishOrderPlaced"]["action"] == "send"
    payload = document["components"]["schemas"]["OrderPlacedV1"]
    assert payload["required"] == ["order_id", "total", "placed_at"]
    assert payload["properties"]["total"]["type"] == "string"  # a Decimal is a JSON string
    contract = read_contract(ROOT / "generated" / "ordering" / "asyncapi.yaml")
    assert contract.domain == "ordering"
    assert {name: sorted(versions) for name, versions in contract.events.items()} == {
        "OrderCancelled": [1],
        "OrderPlaced": [1],
    }
    assert [(f.name, f.type.text) for f in contract.events["OrderPlaced"][1]] == [
        ("order_id", "uuid"),
        ("placed_at", "datetime"),
        ("total", "decimal"),
    ]
    consumer = yaml.safe_load((ROOT / "generated" / "billing" / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert [op["action"] for op in consumer["operations"].values()] == ["receive"]
    # A consumer's own file lists what it consumes but publishes nothing: it is no contract of ordering.
    assert read_contract(ROOT / "generated" / "billing" / "asyncapi.yaml").events == {}


def test_the_vendored_contract_of_the_example_is_the_publishers() -> None:
    vendored = ROOT / "domains" / "contracts" / "ordering.asyncapi.yaml"
    assert vendored.read_text(encoding="utf-8") == (
        ROOT / "generated" / "ordering" / "asyncapi.yaml"
    ).read_text(encoding="utf-8")


def test_the_contract_the_versions_case_consumes_is_the_integration_cases() -> None:
    """cases/consume_versions reacts to shipping's ParcelPrepared v1 and v2: its vendored contract
    is the integration case's output (copy it again after --update-golden changed that)."""
    vendored = (
        ROOT / "tests" / "generator" / "cases" / "consume_versions" / "contracts" / "shipping.asyncapi.yaml"
    )
    assert vendored.read_text(encoding="utf-8") == (
        CASE / "expected" / "shipping" / "asyncapi.yaml"
    ).read_text(encoding="utf-8")


def test_one_public_type_consumed_at_two_versions_is_one_channel_with_an_operation_each() -> None:
    path = (
        ROOT / "tests" / "generator" / "cases" / "consume_versions" / "expected" / "packing" / "asyncapi.yaml"
    )
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    channel = document["channels"]["shipping_ParcelPrepared"]
    assert list(channel["messages"]) == ["ShippingParcelPreparedV1", "ShippingParcelPreparedV2"]
    receive = {name: op["messages"] for name, op in document["operations"].items()}
    assert receive["consumeShippingParcelPreparedV1"] == [
        {"$ref": "#/channels/shipping_ParcelPrepared/messages/ShippingParcelPreparedV1"}
    ]
    assert receive["consumeShippingParcelPreparedV2"] == [
        {"$ref": "#/channels/shipping_ParcelPrepared/messages/ShippingParcelPreparedV2"}
    ]


def test_the_generated_mappings_follow_the_domain_files() -> None:
    """ordering's publication (with its condition) and billing's reaction, as generated."""
    import uuid
    from datetime import UTC, datetime
    from decimal import Decimal

    from acci.integration import parse_envelope
    from billing.commands import OpenInvoice
    from billing.integration import CONSUMERS, OrderingOrderPlacedV1, on_ordering_order_placed_v1
    from ordering.events import Address, OrderPlaced
    from ordering.integration import PUBLISHER, OrderPlacedV1, publish_order_placed

    assert PUBLISHER is not None
    assert sorted(PUBLISHER.event_types) == ["OrderCancelled", "OrderPlaced"]
    assert list(CONSUMERS) == ["billing_from_ordering"]
    address = Address(street="S 1", city="C", postal_code="10115", country="DE")
    placed_at = datetime(2026, 1, 2, tzinfo=UTC)
    order_id = uuid.uuid4()
    event = OrderPlaced(
        order_id=order_id, total=Decimal("9.00"), shipping_address=address, placed_at=placed_at
    )
    public = publish_order_placed(event)
    assert public == OrderPlacedV1(order_id=order_id, total=Decimal("9.00"), placed_at=placed_at)
    assert "shipping_address" not in public.to_json().decode()  # internal: not in the contract
    free = OrderPlaced(order_id=order_id, total=Decimal("0"), shipping_address=address, placed_at=placed_at)
    assert publish_order_placed(free) is None  # when: event.total > 0

    consumed = OrderingOrderPlacedV1.model_validate_json(public.to_json())
    headers = {
        "Nats-Msg-Id": str(uuid.uuid4()),
        "Acci-Event-Id": str(uuid.uuid4()),
        "Acci-Event-Type": "OrderPlaced",
        "Acci-Schema-Version": "1",
        "Acci-Tenant-Id": "acme",
        "Acci-Domain": "ordering",
        "Acci-Aggregate-Type": "Order",
        "Acci-Aggregate-Id": str(order_id),
        "Acci-Aggregate-Version": "3",
        "Acci-Correlation-Id": "corr-9",
    }
    command = on_ordering_order_placed_v1(consumed, parse_envelope(headers))
    assert command == OpenInvoice(
        invoice_id=order_id, order_id=order_id, amount=Decimal("9.00"), opened_by="corr-9"
    )


def test_public_types_cross_from_publisher_to_consumer_in_the_generated_code(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The golden cases' generated modules, one domain publishing and one consuming: an internal
    enum and objects become shipping's public Service and ParcelSize (by value, field by field,
    an int into a decimal), travel as JSON, are read back as packing's ShippingService and
    ShippingParcelSize, and become the command's own enum and objects."""
    import uuid
    from decimal import Decimal

    monkeypatch.syspath_prepend(str(CASE / "expected"))
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "generator" / "cases" / "consume_versions" / "expected"))
    # Imported by name: the golden packages are on the path only here (mypy does not see them),
    # and dropped again afterwards, so that no other test imports these.
    request.addfinalizer(
        lambda: [sys.modules.pop(m) for m in list(sys.modules) if m.split(".")[0] in ("packing", "shipping")]
    )
    packing_events = importlib.import_module("packing.events")
    packing = importlib.import_module("packing.integration")
    shipping_events = importlib.import_module("shipping.events")
    shipping = importlib.import_module("shipping.integration")

    dims = shipping_events.Dimensions(weight_grams=1200, length_cm=30, note="internal")
    event = shipping_events.ShipmentPrepared(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        carrier=shipping_events.Carrier.courier,
        source="depot",
        correlation="c-1",
        size=dims,
        sizes=[dims, dims.model_copy(update={"length_cm": 5})],
    )
    public = shipping.publish_parcel_prepared(event)
    assert public is not None
    assert public.service is shipping.Service.courier
    assert public.size == shipping.ParcelSize(weight_grams=Decimal(1200), length_cm=30)  # no internal note
    wire = public.to_json()
    assert b'"service":"courier"' in wire and b"note" not in wire

    consumed = packing.ShippingParcelPreparedV2.model_validate_json(wire)
    assert consumed.service is packing.ShippingService.courier
    command = packing.on_shipping_parcel_prepared_v2(consumed, None)  # the envelope is not read
    assert command is not None
    assert command.mode is packing_events.Mode.courier
    assert command.box == packing_events.Box(weight_grams=Decimal(1200), length_cm=30)
    assert [b.length_cm for b in command.boxes or []] == [30, 5]
    # A value the consumer's contract does not know is refused when read (it validates).
    with pytest.raises(ValueError, match="service"):
        packing.ShippingParcelPreparedV2.model_validate_json(wire.replace(b'"courier"', b'"rocket"'))
