"""Who calls, over HTTP: bearer JWTs verified with a shared secret, a PEM key or the issuer's
JWKS; every bad token a 401 problem; and a token of tenant A never reads or writes tenant B."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from acci import StreamId
from acci.http import JwtIdentity
from acci.settings import HttpSettings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from tests.http.conftest import Api

OpenApi = Callable[..., Awaitable[Api]]
SECRET = "a-shared-secret-of-32-characters!"
ISSUER = "https://issuer.example"
AUDIENCE = "ordering-api"
CUSTOMER = "0b9d2f9e-4c11-4f0a-9a57-2d1e3c4b5a60"


def token(
    key: Any = SECRET, algorithm: str = "HS256", headers: dict[str, str] | None = None, **claims: Any
) -> str:
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "tenant_id": "tenant-a",
        "exp": int(time.time()) + 600,
    }
    payload.update(claims)
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm, headers=headers
    )


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def hs256() -> HttpSettings:
    return HttpSettings(
        auth="jwt",
        jwt_key=SecretStr(SECRET),
        jwt_algorithms=["HS256"],
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )


@pytest.fixture
async def api(open_api: OpenApi) -> Api:
    return await open_api("ordering", http=hs256(), identity=JwtIdentity(hs256()))


async def test_a_valid_token_names_the_tenant_and_the_user(api: Api) -> None:
    answer = await api.client.post(
        f"/ordering/customers/{CUSTOMER}",
        json={"name": "Ada", "email": "ada@example.com"},
        headers=bearer(token()),
    )
    assert answer.status_code == 200, answer.json()
    [event] = await api.store.read_stream(_stream("tenant-a"))
    assert event.metadata.tenant_id == "tenant-a" and event.metadata.user_id == "alice"


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "send a bearer token"),
        ({"Authorization": "Basic YWxpY2U6cHc="}, "send a bearer token"),
        (bearer("not.a.token"), "not valid"),
        (bearer(token(key="another-secret-of-32-characters!!")), "Signature verification failed"),
        (bearer(token(exp=int(time.time()) - 10)), "expired"),
        (bearer(token(aud="someone-else")), "Audience"),
        (bearer(token(iss="https://elsewhere.example")), "issuer"),
        (bearer(token(tenant_id=None)), "tenant_id"),
        (bearer(token(exp=None)), "exp"),
        (bearer(token(tenant_id="")), "tenant_id"),
        (bearer(token(algorithm="none", key=None)), "not valid"),
    ],
    ids=[
        "missing",
        "basic",
        "garbage",
        "wrong-key",
        "expired",
        "audience",
        "issuer",
        "no-tenant",
        "no-expiry",
        "empty-tenant",
        "alg-none",
    ],
)
async def test_a_bad_token_is_a_401_problem_and_appends_nothing(
    api: Api, headers: dict[str, str], says: str
) -> None:
    answer = await api.client.post(
        f"/ordering/customers/{CUSTOMER}", json={"name": "Ada", "email": "ada@example.com"}, headers=headers
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["type"] == "https://acci.dev/problems/unauthorized"
    assert says in answer.json()["detail"]
    assert await api.store.read_stream(_stream("tenant-a")) == []


async def test_a_token_of_tenant_a_never_reads_or_writes_tenant_b(api: Api) -> None:
    a = bearer(token())
    b = bearer(token(tenant_id="tenant-b", sub="bob"))
    created = await api.client.post(
        f"/ordering/customers/{CUSTOMER}", json={"name": "Ada", "email": "ada@example.com"}, headers=a
    )
    assert created.status_code == 200
    order = str(uuid.uuid4())
    assert (
        await api.client.post(f"/ordering/orders/{order}", json={"customer_id": CUSTOMER}, headers=a)
    ).status_code == 200
    # B reads nothing of A's...
    assert (await api.client.get(f"/ordering/customers/{CUSTOMER}", headers=b)).status_code == 404
    assert (await api.client.get(f"/ordering/customers/{CUSTOMER}/events", headers=b)).status_code == 404
    assert (await api.client.get(f"/ordering/orders/{order}", headers=b)).status_code == 404
    query = await api.client.get(
        "/ordering/queries/orders-of-customer", params={"customer_id": CUSTOMER}, headers=b
    )
    assert query.json()["items"] == []
    # ...changes nothing of A's (its commands reach its own tenant's streams only)...
    cancel = await api.client.post(
        f"/ordering/orders/{order}/cancellation", json={"reason": "mine now"}, headers=b
    )
    assert cancel.status_code == 404
    # ...and its own writes stay in tenant B.
    theirs = await api.client.post(
        f"/ordering/customers/{CUSTOMER}", json={"name": "Bob", "email": "bob@example.com"}, headers=b
    )
    assert theirs.status_code == 200
    assert (await api.client.get(f"/ordering/customers/{CUSTOMER}", headers=a)).json()["state"][
        "name"
    ] == "Ada"
    assert len(await api.store.read_stream(_stream("tenant-a"))) == 1
    assert len(await api.store.read_stream(_stream("tenant-b"))) == 1
    mine = await api.client.get(
        "/ordering/queries/orders-of-customer", params={"customer_id": CUSTOMER}, headers=a
    )
    assert [row["order_id"] for row in mine.json()["items"]] == [order]


@pytest.fixture
def jwks() -> Iterator[tuple[str, Any]]:
    """An issuer's JWKS endpoint on a local port, serving one RSA key (kid "k1")."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()


async def test_tokens_are_verified_with_the_issuers_jwks_or_a_pem_key(
    open_api: OpenApi, jwks: tuple[str, Any]
) -> None:
    url, key = jwks
    settings = HttpSettings(auth="jwt", jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    api = await open_api("ordering", http=settings, identity=JwtIdentity(settings))
    signed = token(key=key, algorithm="RS256", headers={"kid": "k1"})
    assert (
        await api.client.get(f"/ordering/customers/{CUSTOMER}", headers=bearer(signed))
    ).status_code == 404
    forged = token(
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    assert (
        await api.client.get(f"/ordering/customers/{CUSTOMER}", headers=bearer(forged))
    ).status_code == 401
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with_pem = HttpSettings(
        auth="jwt", jwt_key=SecretStr(pem.decode()), jwt_issuer=ISSUER, jwt_audience=AUDIENCE
    )
    api = await open_api("ordering", http=with_pem, identity=JwtIdentity(with_pem))
    assert (
        await api.client.get(f"/ordering/customers/{CUSTOMER}", headers=bearer(signed))
    ).status_code == 404


def _stream(tenant: str) -> StreamId:
    return StreamId(tenant, "Customer", CUSTOMER)
