"""Commands over HTTP: idempotency keys, If-Match, concurrent requests, problem details and the
correlation id, through the generated ordering API on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from acci import StreamId
from acci.settings import HttpSettings

from tests.http.conftest import TENANT_A, Api

OpenApi = Callable[..., Awaitable[Api]]
CUSTOMER = "0b9d2f9e-4c11-4f0a-9a57-2d1e3c4b5a60"
REGISTER = {"name": "Ada", "email": "ada@example.com"}
PROBLEM = "https://acci.dev/problems/"


def customer_stream(customer: str = CUSTOMER, tenant: str = "tenant-a") -> StreamId:
    return StreamId(tenant, "Customer", customer)


async def register(api: Api, customer: str = CUSTOMER, **headers: str) -> Any:
    return await api.client.post(
        f"/ordering/customers/{customer}", json=REGISTER, headers={**TENANT_A, **headers}
    )


async def test_a_command_answers_with_its_events_version_position_and_etag(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    response = await register(api)
    assert response.status_code == 200
    body = response.json()
    assert [(e["type"], e["version"]) for e in body["events"]] == [("CustomerRegistered", 1)]
    assert body["version"] == 1 and body["replayed"] is False
    assert body["position"] == body["events"][0]["position"] == response.headers["Acci-Position"]
    assert response.headers["ETag"] == '"1"'
    state = await api.client.get(f"/ordering/customers/{CUSTOMER}", headers=TENANT_A)
    assert state.status_code == 200 and state.headers["ETag"] == '"1"'
    assert state.json()["state"]["name"] == "Ada"


async def test_an_idempotency_key_makes_a_retry_the_same_command(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    first = await register(api, **{"Idempotency-Key": "register-ada-1"})
    again = await register(api, **{"Idempotency-Key": "register-ada-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == {**first.json(), "replayed": True}
    assert len(await api.store.read_stream(customer_stream())) == 1
    # A UUID key is the command id itself.
    key = str(uuid.uuid4())
    other = "1b9d2f9e-4c11-4f0a-9a57-2d1e3c4b5a60"
    assert (await register(api, other, **{"Idempotency-Key": key})).json()["command_id"] == key


async def test_a_key_reused_for_another_request_is_a_422_and_appends_nothing(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    assert (await register(api, **{"Idempotency-Key": "k-1"})).status_code == 200
    other = "1b9d2f9e-4c11-4f0a-9a57-2d1e3c4b5a60"
    reused = await register(api, other, **{"Idempotency-Key": "k-1"})
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"] == PROBLEM + "idempotency-key-reused"
    assert await api.store.read_stream(customer_stream(other)) == []


async def test_the_same_key_sent_concurrently_appends_once_and_answers_alike(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    answers = await asyncio.gather(*(register(api, **{"Idempotency-Key": "same"}) for _ in range(6)))
    assert {a.status_code for a in answers} == {200}
    bodies = [a.json() for a in answers]
    assert sum(not b["replayed"] for b in bodies) == 1
    assert len({repr({**b, "replayed": None}) for b in bodies}) == 1
    assert len(await api.store.read_stream(customer_stream())) == 1


async def test_if_match_a_stale_version_is_a_412_and_appends_nothing(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    await register(api)
    url = f"/ordering/customers/{CUSTOMER}/change-customer-address"
    address = {"address": {"street": "S 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}}
    stale = await api.client.post(url, json=address, headers={**TENANT_A, "If-Match": '"7"'})
    assert stale.status_code == 412 and stale.json()["type"] == PROBLEM + "version-mismatch"
    bad = await api.client.post(url, json=address, headers={**TENANT_A, "If-Match": "7"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "header.If-Match"
    assert len(await api.store.read_stream(customer_stream())) == 1
    ok = await api.client.post(url, json=address, headers={**TENANT_A, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'


async def test_two_requests_with_the_same_if_match_one_wins(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    await register(api)
    url = f"/ordering/customers/{CUSTOMER}/change-customer-address"

    async def change(city: str) -> Any:
        address = {"street": "S 1", "city": city, "postal_code": "10115", "country": "DE"}
        return await api.client.post(url, json={"address": address}, headers={**TENANT_A, "If-Match": '"1"'})

    answers = await asyncio.gather(*(change(f"City {i}") for i in range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 1 and set(statuses) - {200} <= {409, 412}, statuses
    assert len(await api.store.read_stream(customer_stream())) == 2


async def test_if_match_can_be_required_for_commands_on_existing_aggregates(open_api: OpenApi) -> None:
    api = await open_api("ordering", http=HttpSettings(auth="headers", require_if_match=True))
    assert (await register(api)).status_code == 200  # creating needs no If-Match
    url = f"/ordering/customers/{CUSTOMER}/change-customer-address"
    address = {"address": {"street": "S 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}}
    missing = await api.client.post(url, json=address, headers=TENANT_A)
    assert missing.status_code == 428 and missing.json()["type"] == PROBLEM + "if-match-required"


async def test_problems_name_their_kind_and_the_rule(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    sku = "TEA-0001"
    listed = {"name": "Green tea", "price": "4.50", "currency": "eur"}
    assert (
        await api.client.post(f"/ordering/products/{sku}", json=listed, headers=TENANT_A)
    ).status_code == 200
    discontinue = f"/ordering/products/{sku}/discontinue-product"
    assert (await api.client.post(discontinue, headers=TENANT_A)).status_code == 200
    price = f"/ordering/products/{sku}/change-product-price"
    rejected = await api.client.post(price, json={"price": "5"}, headers=TENANT_A)
    assert rejected.status_code == 400
    assert rejected.json()["code"] == "product_discontinued"
    assert "discontinued" in rejected.json()["detail"]
    missing = await api.client.post(
        "/ordering/products/TEA-0002/change-product-price", json={"price": "5"}, headers=TENANT_A
    )
    assert missing.status_code == 404 and missing.json()["type"] == PROBLEM + "not-found"
    bad_sku = await api.client.post("/ordering/products/tea/discontinue-product", headers=TENANT_A)
    assert bad_sku.status_code == 422 and bad_sku.json()["type"] == PROBLEM + "invalid-command"
    assert bad_sku.json()["errors"][0]["field"] == "sku"
    extra = await api.client.post(price, json={"price": "5", "sku": "TEA-0001"}, headers=TENANT_A)
    assert extra.status_code == 422 and extra.json()["type"] == PROBLEM + "invalid-request"
    unknown = await api.client.get("/ordering/nothing-here", headers=TENANT_A)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


async def test_the_correlation_id_reaches_the_events_and_the_response(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    given = await register(api, **{"X-Correlation-Id": "flow-42"})
    assert given.headers["X-Correlation-Id"] == "flow-42"
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    other = "1b9d2f9e-4c11-4f0a-9a57-2d1e3c4b5a60"
    traced = await register(api, other, traceparent=f"00-{trace}-00f067aa0ba902b7-01")
    assert traced.headers["X-Correlation-Id"] == trace
    [event] = await api.store.read_stream(customer_stream())
    assert event.metadata.correlation_id == "flow-42" and event.metadata.user_id == "alice"
    [event] = await api.store.read_stream(customer_stream(other))
    assert event.metadata.correlation_id == trace
    fresh = await api.client.get(f"/ordering/customers/{CUSTOMER}", headers=TENANT_A)
    assert len(fresh.headers["X-Correlation-Id"]) == 32
