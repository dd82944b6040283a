"""A property-based run of schemathesis against the committed OpenAPI document of each example
domain: requests generated from the contract, sent to the live app on PostgreSQL, never answer
with a 5xx, and every answer conforms to the contract (status code, content type, headers, body
schema). Bounded: a few examples per operation."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
from acci.http import create_app
from acci.migrations import migrate, runtime_migrations
from acci.settings import HttpSettings, Settings
from acci.store.postgres import PostgresEventStore
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from tests.http.conftest import domain_service

ROOT = Path(__file__).resolve().parents[2]
SECRET = "schemathesis-secret-0123456789abcdef"
#: Examples per operation: enough to reach every status of an operation, few enough for CI.
EXAMPLES = 8


def token() -> str:
    claims = {"tenant_id": "tenant-a", "sub": "prober", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["identity", "ordering"])
def test_the_api_keeps_its_contract(acci_database_url: str, domain: str) -> None:
    service = domain_service(domain)
    asyncio.run(migrate(acci_database_url, runtime_migrations() + list(service.migrations)))
    document: dict[str, Any] = json.loads((ROOT / "generated" / domain / "openapi.json").read_text())
    schema = schemathesis.openapi.from_dict(document)
    http = HttpSettings(
        auth="jwt", jwt_key=SecretStr(SECRET), jwt_algorithms=["HS256"], consistency_timeout=0.05
    )
    # A loop of the test's own: hypothesis drives a synchronous function, which runs each request.
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(
        PostgresEventStore.open(acci_database_url, projections=service.projections)
    )
    app = create_app(service, settings=Settings(http=http), store=store)
    served = {key: value for key, value in app.openapi().items() if key != "info"}
    assert served == {key: value for key, value in document.items() if key != "info"}, (
        "the app serves another OpenAPI document than the committed one"
    )
    headers = {"Authorization": f"Bearer {token()}"}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 5
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    try:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def probe(case: Any) -> None:
                # A made-up position is one no command gave: the read would wait for it, then 503.
                for name in ("Acci-Min-Position", "X-Consistency-Token"):
                    (case.headers or {}).pop(name, None)
                kwargs = case.as_transport_kwargs(base_url="http://test", headers=headers)
                response = loop.run_until_complete(send(client, kwargs))
                assert response.status_code < 500, (case.method, case.path, response.text)
                # ignored_auth sends probes of its own over the network (test_auth covers 401s);
                # positive_data_acceptance wants every schema-valid request accepted, but a domain
                # rule, a version or a missing aggregate may refuse one (400, 412, 404, 422).
                excluded = [ignored_auth, positive_data_acceptance]
                case.validate_response(response, headers=headers, excluded_checks=excluded)

            probe()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(store.close())
        loop.close()


async def send(client: httpx.AsyncClient, kwargs: dict[str, Any]) -> httpx.Response:
    """The request schemathesis serialized (for the requests library) sent with httpx."""
    known = {"method", "url", "params", "headers", "json"}
    unknown = set(kwargs) - known - {"data", "cookies"}
    assert not kwargs.get("cookies"), kwargs  # the contract has no cookies
    assert not unknown, unknown
    data = kwargs.get("data")
    return await client.request(
        **{key: value for key, value in kwargs.items() if key in known},
        content=data if isinstance(data, bytes | str) else None,
    )
