"""Settings from the environment: groups, durations, every bad value named, secrets masked, the
session timeouts reaching PostgreSQL, and the documented table kept current."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from acci.cli import main
from acci.errors import ConfigurationError
from acci.settings import DatabaseSettings, Settings, load_settings, mask_url, settings_table
from pydantic import SecretStr

DOCS = Path(__file__).resolve().parents[2] / "docs" / "service-template.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ACCI_"):
            monkeypatch.delenv(name)


def test_defaults_and_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings() == Settings()
    monkeypatch.setenv("ACCI_DATABASE_URL", "postgresql://svc:pw@db:5432/orders")
    monkeypatch.setenv("ACCI_DATABASE__POOL_MAX_SIZE", "20")
    monkeypatch.setenv("ACCI_DATABASE__STATEMENT_TIMEOUT", "250ms")
    monkeypatch.setenv("ACCI_DATABASE__LOCK_TIMEOUT", "2min")
    monkeypatch.setenv("ACCI_MONITORING__HOST", "0.0.0.0")
    monkeypatch.setenv("ACCI_LOG__LEVEL", "debug")
    monkeypatch.setenv("ACCI_LOG__FORMAT", "json")
    monkeypatch.setenv("ACCI_PROJECTIONS__BATCH_SIZE", "100")
    monkeypatch.setenv("ACCI_PROJECTIONS__POLL_INTERVAL", "2")
    monkeypatch.setenv("ACCI_SHUTDOWN_TIMEOUT", "5s")
    settings = load_settings()
    assert settings.url() == "postgresql://svc:pw@db:5432/orders"
    assert settings.database.pool_max_size == 20
    assert settings.database.statement_timeout == 0.25
    assert settings.database.lock_timeout == 120
    assert settings.monitoring.host == "0.0.0.0"
    assert (settings.log.level, settings.log.format) == ("DEBUG", "json")
    assert (settings.projections.batch_size, settings.projections.poll_interval) == (100, 2.0)
    assert settings.shutdown_timeout == 5.0


def test_every_bad_value_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCI_DATABASE__POOL_MAX_SIZE", "many")
    monkeypatch.setenv("ACCI_DATABASE__URL", "postgresql://somewhere")  # the URL is ACCI_DATABASE_URL
    monkeypatch.setenv("ACCI_LOG__FORMAT", "xml")
    monkeypatch.setenv("ACCI_DATABASE__LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ACCI_DATABASE__POOL_MAX_SIZE='many'" in message
    assert "ACCI_DATABASE__URL is not a setting" in message
    assert "ACCI_LOG__FORMAT='xml': Input should be 'console' or 'json'" in message
    assert "ACCI_DATABASE__LOCK_TIMEOUT='soon'" in message and "30s, 250ms, 2min or 1h" in message
    assert "\n" not in message


def test_secrets_are_masked() -> None:
    settings = Settings(database_url=SecretStr("postgresql://svc:s3cret@db:5432/orders"))
    shown = settings.masked()
    assert shown["ACCI_DATABASE_URL"] == "postgresql://svc:**********@db:5432/orders"
    assert "s3cret" not in str(shown) and "s3cret" not in repr(settings)
    replica = load_settings(database={"read_url": "postgresql://svc:s3cret@replica/orders"})
    assert replica.masked()["ACCI_DATABASE__READ_URL"] == "postgresql://svc:**********@replica/orders"
    assert replica.read_url() == "postgresql://svc:s3cret@replica/orders" and Settings().read_url() is None
    assert mask_url("host=db user=svc password=s3cret") == "host=db user=svc password=**********"
    assert mask_url("postgresql://db/orders") == "postgresql://db/orders"
    assert mask_url("postgresql://db/orders?password=s3cret&sslmode=require") == (
        "postgresql://db/orders?password=**********&sslmode=require"
    )
    # The passphrase of the client's key is a secret too, in either form.
    assert mask_url("postgresql://svc@db/orders?sslmode=verify-full&sslpassword=k3y") == (
        "postgresql://svc@db/orders?sslmode=verify-full&sslpassword=**********"
    )
    assert mask_url("host=db sslpassword='k 3y'") == "host=db sslpassword=**********"


def test_config_prints_the_effective_settings_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCI_DATABASE_URL", "postgresql://svc:s3cret@db/orders")
    monkeypatch.setenv("ACCI_PROJECTIONS__BATCH_SIZE", "42")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "ACCI_DATABASE_URL=postgresql://svc:**********@db/orders\n" in out
    assert "ACCI_PROJECTIONS__BATCH_SIZE=42\n" in out
    assert "ACCI_MONITORING__PORT=9108\n" in out and "s3cret" not in out
    monkeypatch.setenv("ACCI_PROJECTIONS__BATCH_SIZE", "0")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("acci: error: invalid settings: ACCI_PROJECTIONS__BATCH_SIZE='0'")
    assert err.count("\n") == 1


def test_the_session_timeouts_reach_postgresql(acci_database_url: str) -> None:
    database = DatabaseSettings.model_validate({"statement_timeout": "200ms", "lock_timeout": "1s"})
    settings = Settings(database=database)
    conninfo = settings.conninfo(acci_database_url, application_name="orders@host")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        }
        assert shown == {
            "statement_timeout": "200ms",
            "lock_timeout": "1s",
            "idle_in_transaction_session_timeout": "1min",
        }
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("orders@host",)
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            conn.execute("SELECT pg_sleep(2)")


def test_the_documented_table_is_current() -> None:
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings-table -->\n(.*?)\n<!-- /settings-table -->", text, flags=re.DOTALL)
    assert found, "docs/service-template.md needs the settings table between its markers"
    assert found[1] == settings_table(), (
        "the settings table in docs/service-template.md is stale: replace it with the output of "
        "`python -m acci.settings`"
    )
