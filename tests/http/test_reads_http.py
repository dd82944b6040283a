"""Reads over HTTP: keyset pages behind opaque cursors, event histories, read-your-writes with a
position, and values PostgreSQL cannot hold answered as invalid, never as a server error."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable

from acci.projections import ProjectionRunner
from acci.settings import HttpSettings
from pydantic import SecretStr

from tests.http.conftest import TENANT_A, TENANT_B, Api

OpenApi = Callable[..., Awaitable[Api]]
CUSTOMER = "0b9d2f9e-4c11-4f0a-9a57-2d1e3c4b5a60"
PROBLEM = "https://acci.dev/problems/"


async def open_orders(api: Api, count: int) -> set[str]:
    ids = set()
    for i in range(count):
        order = str(uuid.UUID(int=i + 1))
        answer = await api.client.post(
            f"/ordering/orders/{order}", json={"customer_id": CUSTOMER}, headers=TENANT_A
        )
        assert answer.status_code == 200, answer.json()["detail"]
        ids.add(order)
    return ids


async def test_keyset_pages_cover_every_row_once(open_api: OpenApi) -> None:
    api = await open_api("ordering", http=HttpSettings(auth="headers", cursor_secret=SecretStr("s3cret")))
    opened = await open_orders(api, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"customer_id": CUSTOMER, "page_size": 3}
        if cursor is not None:
            params["cursor"] = cursor
        page = await api.client.get("/ordering/queries/orders-of-customer", params=params, headers=TENANT_A)
        assert page.status_code == 200, page.json()
        seen += [row["order_id"] for row in page.json()["items"]]
        pages += 1
        cursor = page.json()["next"]
        if cursor is None:
            break
    assert pages == 3 and sorted(seen) == sorted(opened) and len(seen) == len(set(seen))
    # Tenant B sees none of them.
    theirs = await api.client.get(
        "/ordering/queries/orders-of-customer", params={"customer_id": CUSTOMER}, headers=TENANT_B
    )
    assert theirs.json() == {"items": [], "next": None}


async def test_a_tampered_or_foreign_cursor_is_a_422(open_api: OpenApi) -> None:
    api = await open_api("ordering", http=HttpSettings(auth="headers", cursor_secret=SecretStr("s3cret")))
    await open_orders(api, 2)
    url = "/ordering/queries/orders-of-customer"
    first = await api.client.get(url, params={"customer_id": CUSTOMER, "page_size": 1}, headers=TENANT_A)
    cursor = first.json()["next"]
    body, _, signature = cursor.partition(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["v"]["opened_at"] = "2000-01-01T00:00:00Z"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode() + "." + signature
    for bad in (forged, "not a cursor", cursor + "x", "e30"):
        answer = await api.client.get(url, params={"customer_id": CUSTOMER, "cursor": bad}, headers=TENANT_A)
        assert answer.status_code == 422, (bad, answer.json())
        assert answer.json()["type"] == PROBLEM + "invalid-cursor"
    # A cursor of tenant A's page is no cursor for tenant B.
    foreign = await api.client.get(url, params={"customer_id": CUSTOMER, "cursor": cursor}, headers=TENANT_B)
    assert foreign.status_code == 422


async def test_an_event_history_is_paged_oldest_first(open_api: OpenApi) -> None:
    api = await open_api("ordering")
    order = str(uuid.UUID(int=1))
    await open_orders(api, 1)
    for quantity in range(1, 5):
        line = {"sku": "TEA-0001", "quantity": quantity, "unit_price": "1.50"}
        answer = await api.client.post(
            f"/ordering/orders/{order}/add-order-line", json=line, headers=TENANT_A
        )
        assert answer.status_code == 200, answer.json()["detail"]
    url = f"/ordering/orders/{order}/events"
    first = (await api.client.get(url, params={"limit": 3}, headers=TENANT_A)).json()
    assert [e["version"] for e in first["items"]] == [1, 2, 3]
    assert first["items"][1]["data"]["line"]["quantity"] == 1
    rest = (await api.client.get(url, params={"limit": 3, "cursor": first["next"]}, headers=TENANT_A)).json()
    assert [e["version"] for e in rest["items"]] == [4, 5] and rest["next"] is None
    assert (await api.client.get(url, headers=TENANT_B)).status_code == 404


async def test_a_read_waits_for_its_read_model_to_pass_the_position(open_api: OpenApi) -> None:
    api = await open_api("identity", http=HttpSettings(auth="headers", consistency_timeout=0.3))
    user = str(uuid.uuid4())
    created = await api.client.post(
        f"/identity/users/{user}", json={"email": "ada@example.com", "name": "Ada"}, headers=TENANT_A
    )
    position = created.json()["position"]
    url = "/identity/queries/get-user"
    # Without a position the read does not wait: the asynchronous read model has no row yet.
    assert (await api.client.get(url, params={"id": user}, headers=TENANT_A)).status_code == 404
    behind = await api.client.get(
        url, params={"id": user}, headers={**TENANT_A, "Acci-Min-Position": position}
    )
    assert behind.status_code == 503 and behind.headers["Retry-After"] == "1"
    assert behind.json()["type"] == PROBLEM + "consistency-timeout"
    projection = next(p for p in api.app.state.acci.projections.values() if p.name == "user_view")
    waiting = asyncio.create_task(
        api.client.get(url, params={"id": user}, headers={**TENANT_A, "X-Consistency-Token": position})
    )
    await ProjectionRunner(api.store, projection).catch_up()
    answer = await waiting
    # The runner may finish after the wait's timeout, or (on a shared server, whose oldest running
    # transaction holds every reader back) apply the event only on a later pass: ask again.
    deadline = time.monotonic() + 30
    while answer.status_code == 503 and time.monotonic() < deadline:
        await ProjectionRunner(api.store, projection).catch_up()
        answer = await api.client.get(
            url, params={"id": user}, headers={**TENANT_A, "Acci-Min-Position": position}
        )
    assert answer.status_code == 200, answer.json()["detail"]
    assert answer.json()["name"] == "Ada"


async def test_values_postgresql_cannot_hold_are_invalid_not_server_errors(open_api: OpenApi) -> None:
    api = await open_api("identity")
    user = str(uuid.uuid4())
    nul = await api.client.post(
        f"/identity/users/{user}", json={"email": "a@example.com", "name": "A\u0000da"}, headers=TENANT_A
    )
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "name"
    huge = await api.client.get(
        "/identity/queries/search-users", params={"query": "a", "offset": str(2**70)}, headers=TENANT_A
    )
    assert huge.status_code == 422
    nul_query = await api.client.get(
        "/identity/queries/search-users", params={"query": "a\u0000"}, headers=TENANT_A
    )
    assert nul_query.status_code == 422 and nul_query.json()["type"] == PROBLEM + "invalid-query"
