"""The guide's User example again, this time from domains/identity.yaml through the code acci-gen
generated for it (generated/identity/): commands, the user_view read model kept by the
projection runner, the guide's search, and an event stored at an old version read as the new.

Run: `./dev demo` (it runs this after the runtime walkthrough), or
`PYTHONPATH=generated python examples/identity_walkthrough.py` with ACCI_DATABASE_URL set.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from acci import Command, CommandMetadata, NewEvent, PostgresEventStore, StreamId
from acci.database import database_url
from acci.migrations import migrate, runtime_migrations
from acci.projections import ProjectionRunner, projection_status
from identity.commands import CreateUser, UpdateUser
from identity.handlers import handle
from identity.projections import UserViewProjection
from identity.queries import IdentityQueries
from identity.service import migrations
from ordering.registry import REGISTRY as ORDERING
from ordering.service import migrations as ordering_migrations


def say(step: str) -> None:
    print(f"\n== {step}")


async def walkthrough(url: str) -> None:
    say("migrate: the runtime, then the read models of identity and ordering")
    for migration in await migrate(url, runtime_migrations() + migrations() + ordering_migrations()):
        print(f"   applied {migration}")
    async with await PostgresEventStore.open(url) as store:
        admin = CommandMetadata(user_id="admin", tenant_id="tenant1")
        say("CreateUser and UpdateUser, through the generated handlers")
        people = [
            ("Ada Lovelace", "ada@example.com"),
            ("Alan Turing", "alan@example.com"),
            ("Grace Hopper", "grace@example.com"),
            ("Adele Goldberg", "adele@example.com"),
        ]
        ids = []
        for name, email in people:
            user_id = uuid.uuid4()
            ids.append(user_id)
            result = await handle(store, Command(CreateUser(user_id=user_id, email=email, name=name), admin))
            print(f"   {result.events[0].event_type} {name} -> version {result.version}")
        await handle(store, Command(UpdateUser(user_id=ids[1], name="Alan M. Turing"), admin))
        print("   UserUpdated Alan M. Turing")

        say("the user_view projection catches up (one transaction per batch, with its checkpoint)")
        handled = await ProjectionRunner(store, UserViewProjection()).catch_up()
        status = await projection_status(store, UserViewProjection())
        print(f"   handled {handled} events; checkpoint {status.position}, lag {status.lag_events}")

        say("the guide's search_users: ILIKE on name or email, ordered by name")
        queries = IdentityQueries.of(store)
        for user in await queries.search_users("tenant1", query="ad", limit=10):
            print(f"   {user.name:<16} {user.email}")
        other = await queries.search_users("tenant2", query="ad")
        print(f"   (tenant2 sees {len(other)} users)")

        say("an OrderPlaced stored at schema version 1, read as version 3")
        v1 = {
            "order_id": str(uuid.uuid4()),
            "amount": "12.50",
            "placed_at": "2024-03-01T10:00:00+00:00",
            "street": "Unter den Linden 1",
            "city": "Berlin",
            "zip": "10117",
            "country": "DE",
        }
        stream = StreamId("tenant1", "Order", v1["order_id"])
        await store.append(stream, [NewEvent(v1, event_type="OrderPlaced", schema_version=1)])
        [stored] = await store.read_stream(stream)
        print(f"   stored: v{stored.schema_version} {stored.data}")
        print(f"   read:   {ORDERING.decode(stored)!r}")
    say("done")


def main() -> int:
    with database_url() as url:
        asyncio.run(walkthrough(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
