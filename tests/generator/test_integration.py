"""Integration events in acci-gen: released public shapes frozen in the lock file (by the domain's
compatibility mode), the AsyncAPI contract (valid, read back by a consumer exactly as declared),
and the vendored contract of the example kept in step with its publisher."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from acci_gen.cli import main
from acci_gen.spec.contract import read_contract
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
