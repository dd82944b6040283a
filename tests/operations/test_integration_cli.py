"""`relay` and `consume` on the operator's command line: a service without integration events, a
consumer name it does not have and an unreachable NATS server are one error line each, exit 2 or
1, never a traceback."""

from __future__ import annotations

import pytest
from acci.cli import main


def test_relay_of_a_service_that_publishes_nothing(
    acci_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", acci_database_url, "--app", "identity.service:service", "relay"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("acci: error: service 'identity' publishes nothing: give an event 'publish: true'")
    assert "Traceback" not in err


def test_consume_of_a_service_that_consumes_nothing(
    acci_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", acci_database_url, "--app", "ordering.service:service", "consume"]) == 2
    assert "service 'ordering' consumes nothing: declare 'consumes:'" in capsys.readouterr().err


def test_consume_of_an_unknown_consumer(acci_database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", acci_database_url, "--app", "billing.service:service", "consume", "billing"]) == 2
    err = capsys.readouterr().err
    assert "service 'billing' has no consumer 'billing'; it has: billing_from_ordering." in err


@pytest.mark.slow  # waits out the 5 s connect timeout
def test_relay_without_a_nats_server(
    acci_database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCI_NATS_URL", "nats://127.0.0.1:1")  # nothing listens on port 1
    assert main(["--url", acci_database_url, "--app", "ordering.service:service", "relay"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    # The attempts are logged; the error is the last line, at most connect_timeout (5 s) later.
    assert lines[-1] == (
        "acci: error: cannot connect to NATS at nats://127.0.0.1:1: no connection within 5 s. Start the "
        "server (with JetStream: -js) or point ACCI_NATS_URL at it."
    )
    assert not any("Traceback" in line for line in lines)


def test_a_service_of_several_domains_has_their_publishers_and_consumers() -> None:
    """What a scaffolded service's `python -m <service> relay|consume` runs: Service.of_domains."""
    from acci.service import Service

    service = Service.of_domains("shop", ["billing", "identity", "ordering"])
    assert [publisher.domain for publisher in service.publishers] == ["ordering"]
    assert sorted(service.publishers[0].event_types) == ["OrderCancelled", "OrderPlaced"]
    assert list(service.consumers) == ["billing_from_ordering"]
    assert service.consumers["billing_from_ordering"].domain == "ordering"
    # The merged registry decodes what the relay reads.
    assert service.registry.class_for("OrderPlaced").__module__ == "ordering.events"


def test_the_service_entry_point_has_relay_and_consume(capsys: pytest.CaptureFixture[str]) -> None:
    from acci.service import Service

    service = Service.of_domains("shop", ["billing", "ordering"])
    with pytest.raises(SystemExit) as raised:
        main(["consume", "--help"], service=service, prog="shop")
    assert raised.value.code == 0
    assert "usage: shop consume" in capsys.readouterr().out


def test_replaying_a_consumers_dead_letters_when_there_are_none(
    acci_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ["--url", acci_database_url, "--app", "billing.service:service", "consume"]
    assert main([*app, "--replay-dead-letters", "billing_from_ordering"]) == 0
    assert capsys.readouterr().out == "billing_from_ordering: 0 dead letter(s) replayed, 0 failed again.\n"
    assert main([*app, "--replay-dead-letters", "nobody"]) == 2
    assert "has no consumer 'nobody'" in capsys.readouterr().err
