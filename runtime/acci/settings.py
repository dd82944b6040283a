"""A service's settings, from the environment: one typed object with a group per concern.

Every setting is an environment variable `ACCI_<GROUP>__<NAME>` (two underscores between the
group and the name), for example `ACCI_DATABASE__POOL_MAX_SIZE=20`; the database URL keeps its
established name, `ACCI_DATABASE_URL`. `load_settings()` reads them once and reports every bad
value at once, by variable name; `Settings.masked()` is what `python -m <service> config` prints.
The table of all settings in docs/service-template.md is `settings_table()` (a test keeps it so).

Later groups (the HTTP API, NATS) join as further fields of `Settings`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from acci.errors import ConfigurationError

ENV_PREFIX = "ACCI_"
NESTED_DELIMITER = "__"
_MASK = "**********"
#: The settings that are database URLs: shown with only their passwords masked.
_URLS = frozenset({f"{ENV_PREFIX}DATABASE_URL", f"{ENV_PREFIX}DATABASE{NESTED_DELIMITER}READ_URL"})

_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$")


def _seconds(value: Any) -> Any:
    """'250ms', '30s', '2min', '1h' or a number of seconds -> seconds (PostgreSQL's units)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("write a duration like 30, 30s, 250ms, 2min or 1h")
        return float(match[1]) * _UNITS[match[2] or "s"]
    return value


#: Seconds; the environment may also say 250ms, 30s, 2min or 1h.
Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Group):
    """The connection pool, and the server-side timeouts of its sessions (0 turns one off)."""

    pool_min_size: int = Field(default=1, ge=0, description="Connections the pool keeps open.")
    pool_max_size: int = Field(default=10, ge=1, description="Connections the pool opens at most.")
    connect_timeout: Duration = Field(
        default=5.0, description="Seconds to wait for the server before giving up with a clear error."
    )
    statement_timeout: Duration = Field(
        default=60.0, description="A statement running longer is cancelled (PostgreSQL's statement_timeout)."
    )
    lock_timeout: Duration = Field(
        default=10.0,
        description="Waiting longer for a lock cancels the statement (PostgreSQL's lock_timeout).",
    )
    read_url: SecretStr | None = Field(
        default=None,
        description="A streaming replica of the database that query handlers read from, and only they "
        "(commands, runners and checkpoints stay on the primary). Unset: queries read the primary.",
    )
    read_your_writes_timeout: Duration = Field(
        default=5.0,
        description="Seconds a query given a command's position waits for its read models to pass it "
        "(on the replica: its replay too) before failing with ConsistencyTimeout.",
    )
    idle_in_transaction_session_timeout: Duration = Field(
        default=60.0,
        description="A session idle inside a transaction this long is ended: an open write transaction "
        "holds back every projection (the global order waits for it).",
    )

    def session_options(self) -> str:
        """The timeouts as libpq `options` (milliseconds, as PostgreSQL takes them)."""
        settings = {
            "statement_timeout": self.statement_timeout,
            "lock_timeout": self.lock_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_session_timeout,
        }
        return " ".join(f"-c {name}={round(seconds * 1000)}" for name, seconds in settings.items())


class MonitoringSettings(_Group):
    """The HTTP endpoints for probes and Prometheus: /livez, /readyz and /metrics."""

    enabled: bool = Field(default=True, description="Serve the endpoints while the service runs.")
    host: str = Field(
        default="127.0.0.1",
        description="The address to bind; 0.0.0.0 in a container (the Dockerfile sets it).",
    )
    port: int = Field(
        default=9108, ge=0, le=65535, description="The port; 0 picks a free one (it is logged)."
    )
    max_lag_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Readiness fails while a projection's oldest unhandled event is older.",
    )
    max_lag_events: int | None = Field(
        default=None,
        ge=0,
        description="Readiness fails while a projection lags more events (unset: no limit).",
    )


class LogSettings(_Group):
    """Where log lines go (stderr) and how they look."""

    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)] = (
        Field(default="INFO", description="The lowest level written.")
    )
    format: Literal["console", "json"] = Field(
        default="console",
        description="console: one readable line per record; json: one JSON object per line.",
    )


class ProjectionSettings(_Group):
    """How the service's projection runners work."""

    batch_size: int = Field(default=500, ge=1, description="Events applied per transaction.")
    poll_interval: Duration = Field(
        default=0.5, description="Seconds between polls when no NOTIFY arrives (NOTIFY is only a hint)."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Tries of a failing event before it becomes a dead letter."
    )
    on_poison: Literal["skip", "halt"] = Field(
        default="skip",
        description="After the last try: skip parks the event and goes on; halt parks it and stops.",
    )
    segments: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="Segments a projection is split into when it first runs, unless it sets its own "
        "(each owns part of the streams; processes share them). `acci projections resplit` changes it.",
    )
    max_segments: int | None = Field(
        default=None,
        ge=1,
        description="The most segments of one projection this process runs (unset: all it can claim).",
    )


class TracingSettings(_Group):
    """OpenTelemetry traces of commands, projection batches and queries (needs acci[otel])."""

    enabled: bool = Field(default=False, description="Record and export traces.")
    exporter: Literal["otlp", "console"] = Field(
        default="otlp",
        description="otlp: to OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318); console: stderr.",
    )


class TenantSettings(_Group):
    """Tenants across databases (acci.tenants): the databases by name, and which tenant lives in
    which. The service's own database (ACCI_DATABASE_URL) is named `default`: it holds every
    tenant not routed elsewhere and the tenant directory, whose entries (`acci tenants move`)
    override these routes."""

    databases: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='More databases by name, as JSON: {"eu-2": "postgresql://..."}. Empty: one database.',
    )
    routes: dict[str, str] = Field(
        default_factory=dict,
        description='Tenants to databases by name, as JSON: {"acme": "eu-2"}. Unlisted tenants: `default`.',
    )
    directory_ttl: Duration = Field(
        default=5.0,
        description="Seconds a process keeps a tenant's directory entry before reading it again.",
    )
    move_wait: Duration = Field(
        default=30.0,
        description="Seconds a write for a tenant that is being moved waits for the move before "
        "failing with TenantMoved.",
    )

    @model_validator(mode="after")
    def _known_databases(self) -> TenantSettings:
        if "default" in self.databases:
            raise ValueError("`default` is the service's own database (ACCI_DATABASE_URL): name it otherwise")
        unknown = sorted({name for name in self.routes.values() if name != "default"} - set(self.databases))
        if unknown:
            raise ValueError(
                f"routes name databases that ACCI_TENANTS__DATABASES does not: {', '.join(unknown)}"
            )
        return self


class HttpSettings(_Group):
    """The HTTP API (`python -m <service> serve`, needs acci[http]): where it listens, who may call
    it, and how long a read waits for its read models (see docs/http-api.md)."""

    host: str = Field(
        default="127.0.0.1",
        description="The address to bind; 0.0.0.0 in a container (the Dockerfile sets it).",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="The port the API listens on.")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    auth: Literal["jwt", "headers"] = Field(
        default="jwt",
        description="jwt: tenant and user from a verified bearer token; headers: from X-Tenant-Id and "
        "X-User-Id, unverified (development only).",
    )
    jwt_issuer: str | None = Field(default=None, description="The `iss` a token must have (unset: any).")
    jwt_audience: str | None = Field(default=None, description="The `aud` a token must have (unset: none).")
    jwt_key: SecretStr | None = Field(
        default=None,
        description="The key tokens are verified with: a shared secret (HS256) or a PEM public key.",
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="Or: the URL of the issuer's JSON Web Key Set (keys chosen by `kid`)."
    )
    jwt_algorithms: list[str] = Field(
        default=["RS256", "ES256", "HS256"], description="The signature algorithms accepted (JSON list)."
    )
    tenant_claim: str = Field(default="tenant_id", description="The claim that names the caller's tenant.")
    user_claim: str = Field(default="sub", description="The claim that names the calling user.")
    require_if_match: bool = Field(
        default=False,
        description="Refuse (428) commands on existing aggregates sent without If-Match.",
    )
    consistency_timeout: Duration = Field(
        default=5.0,
        description="Seconds a query given a position waits for its read models before a 503.",
    )
    cursor_secret: SecretStr | None = Field(
        default=None,
        description="Signs page cursors (HMAC-SHA256); set it to the same value in every instance.",
    )


class Settings(BaseSettings):
    """Everything a running service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="The PostgreSQL server (13 or newer), postgresql://user:password@host:port/dbname. "
        "Unset: an embedded PostgreSQL, for development (needs acci[testing]).",
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    projections: ProjectionSettings = Field(default_factory=ProjectionSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    tenants: TenantSettings = Field(default_factory=TenantSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    shutdown_timeout: Duration = Field(
        default=30.0,
        description="After SIGTERM, seconds to finish the current batches before exiting anyway.",
    )

    def url(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url is not None else None

    def read_url(self) -> str | None:
        """The replica queries read from (ACCI_DATABASE__READ_URL), if one is set."""
        read = self.database.read_url
        return read.get_secret_value() if read is not None else None

    def tenant_databases(self) -> dict[str, str]:
        """The tenants' databases by name (ACCI_TENANTS__DATABASES), without `default`."""
        return {name: url.get_secret_value() for name, url in self.tenants.databases.items()}

    def conninfo(self, url: str, *, application_name: str) -> str:
        """`url` with the pool's session settings: timeouts and the name `pg_stat_activity` shows."""
        given = conninfo_to_dict(url)
        options = " ".join(filter(None, [str(given.get("options") or ""), self.database.session_options()]))
        return make_conninfo(
            url,
            options=options,
            connect_timeout=max(1, math.ceil(self.database.connect_timeout)),
            application_name=str(given.get("application_name") or application_name)[:63],
        )

    def masked(self) -> dict[str, Any]:
        """The effective settings by environment variable, with passwords and secrets masked."""
        shown: dict[str, Any] = {}
        for env, value in _flatten(self):
            if isinstance(value, dict):
                value = {
                    key: mask_url(item.get_secret_value()) if isinstance(item, SecretStr) else item
                    for key, item in value.items()
                }
            elif isinstance(value, SecretStr):
                secret = value.get_secret_value()
                value = mask_url(secret) if env in _URLS else _MASK
            shown[env] = value
        return shown


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and `overrides`); every bad value in one error."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = [
            _problem(tuple(str(part) for part in e["loc"]), e["type"], e["msg"], e["input"])
            for e in error.errors()
        ]
        raise ConfigurationError(
            "invalid settings: " + "; ".join(problems) + ". The settings are listed in "
            "docs/service-template.md (Configuration); `config` prints the effective ones."
        ) from None


def _problem(loc: tuple[str, ...], kind: str, message: str, given: Any) -> str:
    env = _env_name(loc)
    if kind == "extra_forbidden":
        return f"{env} is not a setting"
    if env in _URLS or not isinstance(given, str | int | float):
        return f"{env}: {message}"
    return f"{env}={given!r}: {message}"


def mask_url(url: str) -> str:
    """The URL (or libpq conninfo) with its password and its key's passphrase (sslpassword)
    replaced by stars."""
    if "://" in url:
        url = re.sub(r"([?&](?:ssl)?password=)[^&]*", rf"\g<1>{_MASK}", url)
        return re.sub(r"(://[^:/@]*:)[^@]*@", rf"\g<1>{_MASK}@", url, count=1)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", rf"\g<1>{_MASK}", url)


def settings_table() -> str:
    """Markdown: every setting's variable, default and meaning (docs/service-template.md)."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for env, info in _fields(Settings):
        value = info.get_default(call_default_factory=True)
        default = "unset" if value is None else _shown_default(value)
        lines.append(f"| `{env}` | {default} | {info.description} |")
    return "\n".join(lines)


def _shown_default(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _fields(model: type[BaseModel], prefix: str = ENV_PREFIX) -> list[tuple[str, FieldInfo]]:
    found: list[tuple[str, FieldInfo]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Group):
            found += _fields(annotation, f"{prefix}{name.upper()}{NESTED_DELIMITER}")
        else:
            found.append((f"{prefix}{name.upper()}", info))
    return found


def _flatten(model: BaseModel, prefix: str = ENV_PREFIX) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, _Group):
            found += _flatten(value, f"{prefix}{name.upper()}{NESTED_DELIMITER}")
        else:
            found.append((f"{prefix}{name.upper()}", value))
    return found


def _env_name(loc: tuple[str, ...]) -> str:
    """The environment variable of a validation error's location, e.g. ACCI_DATABASE__POOL_MAX_SIZE."""
    if not loc:
        return "settings"
    head, *rest = loc
    return ENV_PREFIX + NESTED_DELIMITER.join([head.upper(), *(part.upper() for part in rest)])


if __name__ == "__main__":
    print(settings_table())
