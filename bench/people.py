"""Users of the identity domain for the projection and search workloads: varied names and e-mail
addresses across several tenants of different sizes, the same for every run (no randomness)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Tenants and their share of the users, in tenths: a large tenant, two medium ones, two small ones.
TENANTS: tuple[tuple[str, int], ...] = (
    ("acme", 4),
    ("globex", 2),
    ("initech", 2),
    ("umbrella", 1),
    ("hooli", 1),
)
_TENANT_OF_TENTH = [name for name, tenths in TENANTS for _ in range(tenths)]

# fmt: off
_FIRST = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Ilse", "Jonas", "Karl", "Lena",
    "Lukas", "Marie", "Mia", "Noah", "Olga", "Paul", "Quentin", "Rosa", "Sophie", "Tom", "Ursula",
    "Valentin", "Wiebke", "Xaver", "Yusuf", "Zoe", "Jürgen", "Björn", "Özlem", "Ahmet", "Fatma",
    "Mehmet", "Piotr", "Agnieszka", "Jan", "Katarzyna", "Minh", "Linh", "Wei", "Mei", "Aisha", "Omar",
    "Carlos", "Lucía", "Giulia", "Marco", "Sven", "Ingrid",
)
_LAST = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz",
    "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause",
    "Meier", "Lehmann", "Kowalski", "Nowak", "Wiśniewski", "Nguyen", "Tran", "Yilmaz", "Kaya", "Demir",
    "García", "Rossi", "Russo", "Andersson", "Johansson", "Larsen", "Dubois", "Martin", "Bernard",
    "Silva", "Santos", "Oliveira",
)
# fmt: on
_DOMAINS = ("example.com", "example.org", "mail.example.net", "firma.example.de", "corp.example.io")
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "í": "i", "ś": "s"})
_NAMESPACE = uuid.UUID("5a0d6e1c-2f43-4b8e-9c71-3d2a1f0e9b64")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Person:
    tenant_id: str
    user_id: uuid.UUID
    email: str
    name: str
    created_by: str | None
    status: str
    created_at: datetime


def person(i: int) -> Person:
    """User number `i`: 2,500 first and last name pairs, e-mail addresses made unique by a number."""
    first = _FIRST[i % len(_FIRST)]
    last = _LAST[(i // len(_FIRST) + i * 7) % len(_LAST)]
    local = f"{first}.{last}".lower().translate(_ASCII)
    email = f"{local}{i % 9973}@{_DOMAINS[i % len(_DOMAINS)]}"
    return Person(
        tenant_id=_TENANT_OF_TENTH[(i * 2_654_435_761 >> 16) % 10],
        user_id=uuid.uuid5(_NAMESPACE, str(i)),
        email=email,
        name=f"{first} {last}",
        created_by=None if i % 3 else "admin@example.com",
        status="disabled" if i % 17 == 0 else "active",
        created_at=_EPOCH + timedelta(seconds=i * 37),
    )


def people(count: int) -> list[Person]:
    return [person(i) for i in range(count)]


#: What users type into a search box: parts of names and of e-mail addresses, from common (thousands
#: of users in a tenant) to rare (a few) and absent, all of at least three characters (the smallest
#: pattern a trigram index can use).
SEARCHES = (
    "anna",
    "müller",
    "schmidt",
    "lena",
    "mann",
    "sophie.w",
    "nguyen",
    "kowal",
    "example.org",
    "firma",
    "jonas.k",
    "ingrid.s",
    "ber",
    "yusuf",
    "özlem",
    "garcía",
    "rossi",
    "tom.schw",
    "mail.example",
    "zzq",
    "lucía s",
    "hartmann",
    "xaver.l",
    "son@",
)
