"""Who calls: the tenant and the user of a request, from a pluggable provider.

The default (`auth=jwt`) verifies a bearer JWT with PyJWT: signature (a shared secret or a PEM
public key from the settings, or the issuer's JWKS chosen by `kid`), expiry, issuer and audience,
then reads the tenant and the user from claims (`tenant_id` and `sub` by default). `auth=headers`
takes them from `X-Tenant-Id` and `X-User-Id` unverified: for development and tests only.
Anything else is an `IdentityProvider`: an async callable from the request to an Identity, passed
to `create_app(identity=...)`. Every failure is a 401 problem with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from acci.errors import ConfigurationError
from acci.http.problems import HttpProblem
from acci.settings import HttpSettings

if TYPE_CHECKING:
    import jwt

TENANT_HEADER = "X-Tenant-Id"
USER_HEADER = "X-User-Id"
#: The longest tenant or user id a request may name (they end up in every event's metadata).
MAX_ID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Identity:
    tenant_id: str
    user_id: str


IdentityProvider = Callable[[Request], Awaitable[Identity]]


def unauthorized(detail: str) -> HttpProblem:
    return HttpProblem(
        401,
        "unauthorized",
        "No valid credentials",
        detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _checked_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        raise unauthorized(f"the {what} must be a non-empty text of at most {MAX_ID_LENGTH} characters.")
    if not value.isprintable():
        raise unauthorized(f"the {what} holds characters that cannot be printed.")
    return value


class HeaderIdentity:
    """Development mode: the tenant and user named by headers, believed as they are."""

    async def __call__(self, request: Request) -> Identity:
        tenant = request.headers.get(TENANT_HEADER)
        if tenant is None:
            raise unauthorized(f"send the tenant in the {TENANT_HEADER} header (development mode).")
        user = request.headers.get(USER_HEADER, "anonymous")
        return Identity(
            _checked_id(tenant, f"{TENANT_HEADER} header"), _checked_id(user, f"{USER_HEADER} header")
        )


class JwtIdentity:
    """The tenant and user from the claims of a verified bearer JWT (see the module docstring)."""

    def __init__(self, settings: HttpSettings) -> None:
        if settings.jwt_key is None and settings.jwt_jwks_url is None:
            raise ConfigurationError(
                "ACCI_HTTP__AUTH=jwt needs ACCI_HTTP__JWT_KEY or ACCI_HTTP__JWT_JWKS_URL to verify tokens "
                "with (or ACCI_HTTP__AUTH=headers for development)."
            )
        # Imported here: only this provider needs PyJWT (acci-gen imports acci.http without it).
        self._jwt: Any = importlib.import_module("jwt")
        self.settings = settings
        self._key = settings.jwt_key.get_secret_value() if settings.jwt_key is not None else None
        self._jwks: jwt.PyJWKClient | None = (
            self._jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        )

    async def __call__(self, request: Request) -> Identity:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("send a bearer token: Authorization: Bearer <JWT>.")
        claims = await self.claims(token.strip())
        s = self.settings
        return Identity(
            _checked_id(claims.get(s.tenant_claim), f"'{s.tenant_claim}' claim"),
            _checked_id(claims.get(s.user_claim), f"'{s.user_claim}' claim"),
        )

    async def claims(self, token: str) -> dict[str, Any]:
        s = self.settings
        try:
            if self._jwks is not None:
                # PyJWKClient fetches (and caches) the key set with blocking I/O.
                key: Any = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            else:
                key = self._key
            claims: dict[str, Any] = self._jwt.decode(
                token,
                key,
                algorithms=s.jwt_algorithms,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                options={"require": ["exp", s.tenant_claim, s.user_claim]},
            )
        except self._jwt.PyJWTError as error:
            raise unauthorized(f"the bearer token is not valid: {error}.") from None
        return claims


def identity_provider(settings: HttpSettings) -> IdentityProvider:
    """The provider the settings choose."""
    return HeaderIdentity() if settings.auth == "headers" else JwtIdentity(settings)
