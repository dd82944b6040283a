"""The HTTP API of a service (needs acci[http]): the generated routers' shared parts and the app.

See docs/http-api.md: the routes' conventions, headers, status codes and problem types, auth,
read-your-writes and `serve`.
"""

from acci.http.app import create_app, domain_routers, openapi_document, openapi_json
from acci.http.identity import HeaderIdentity, Identity, IdentityProvider, JwtIdentity

__all__ = [
    "HeaderIdentity",
    "Identity",
    "IdentityProvider",
    "JwtIdentity",
    "create_app",
    "domain_routers",
    "openapi_document",
    "openapi_json",
]
