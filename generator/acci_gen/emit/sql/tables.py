"""The read-model schema a domain asks for: one table per projection, with the indexes its
queries need. Plain data, so that it can be snapshotted, compared and turned into SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acci_gen.model import MISSING, Domain, Field, Projection, Query
from acci_gen.names import TENANT

#: How each field type is stored in a read-model column.
SQL_TYPES = {
    "string": "text",
    "email": "text",
    "int": "bigint",
    "decimal": "numeric",
    "bool": "boolean",
    "uuid": "uuid",
    "date": "date",
    "datetime": "timestamptz",
    "enum": "text",
    "object": "jsonb",
    "list": "jsonb",
}

#: Filter operators answered best by a trigram index (pg_trgm) rather than a b-tree.
TEXT_SEARCH_OPS = ("contains", "like", "ilike")


@dataclass(frozen=True, order=True)
class Column:
    name: str
    sql_type: str
    nullable: bool


@dataclass(frozen=True, order=True)
class Index:
    name: str
    columns: tuple[str, ...]
    #: "btree", or "trigram": GIN over (tenant_id, column gin_trgm_ops), for ILIKE '%text%' within a
    #: tenant (btree_gin lets the GIN index hold tenant_id too).
    method: str = "btree"
    unique: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "columns": [{"name": c.name, "type": c.sql_type, "nullable": c.nullable} for c in self.columns],
            "primary_key": list(self.primary_key),
            "indexes": [
                {"name": i.name, "columns": list(i.columns), "method": i.method, "unique": i.unique}
                for i in self.indexes
            ],
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> Table:
        return cls(
            name,
            tuple(Column(c["name"], c["type"], c["nullable"]) for c in data["columns"]),
            tuple(data["primary_key"]),
            tuple(Index(i["name"], tuple(i["columns"]), i["method"], i["unique"]) for i in data["indexes"]),
        )


def sql_type(field: Field) -> str:
    kind = field.type.kind
    if kind == "decimal" and field.precision is not None:
        return f"numeric({field.precision}, {field.scale or 0})"
    return SQL_TYPES.get(kind if kind in ("enum", "object", "list") else field.type.name, "text")


def tables(domain: Domain) -> dict[str, Table]:
    """Every read-model table of the domain, by table name."""
    return {
        p.table: table_of(p, [q for q in domain.queries if q.projection == p.name])
        for p in domain.projections
    }


def table_of(projection: Projection, queries: list[Query]) -> Table:
    """The projection's table: tenant_id, then its columns; keyed by (tenant_id, key)."""
    columns = [Column(TENANT, "text", False)]
    for field in projection.columns:
        nullable = field.name != projection.key and (field.optional or field.default is not MISSING)
        columns.append(Column(field.name, sql_type(field), nullable))
    return Table(
        projection.table,
        tuple(columns),
        (TENANT, projection.key),
        tuple(sorted(_query_indexes(projection, queries))),
    )


def _query_indexes(projection: Projection, queries: list[Query]) -> set[Index]:
    """Indexes derived from the declared queries: a b-tree for each ordering and for equality
    filters, a trigram index for each text search. Every index leads with tenant_id, because every
    query is scoped to a tenant."""
    found: set[Index] = set()
    table = projection.table
    for query in queries:
        equal: list[str] = []
        for column, op in _filter_terms(query.filters):
            if op in TEXT_SEARCH_OPS:
                found.add(Index(f"{table}_{column}_trgm", (TENANT, column), "trigram"))
            elif op == "eq" and column != projection.key:
                equal.append(column)
        for column in equal:
            found.add(Index(f"{table}_{column}", (TENANT, column)))
        if query.order_by:
            ordered = tuple(c for c, _ in query.order_by)
            if ordered != (projection.key,):
                found.add(Index(f"{table}_by_{'_'.join(ordered)}", (TENANT, *ordered, projection.key)))
    return found


def _filter_terms(filters: list[Any]) -> list[tuple[str, str]]:
    """(column, operator) of every term in a query's filters, OR groups included."""
    terms: list[tuple[str, str]] = []
    for item in filters:
        if isinstance(item, dict) and "any" in item:
            terms += _filter_terms(item["any"])
        elif isinstance(item, dict):
            for column, ops in item.items():
                if isinstance(ops, dict):
                    terms += [(column, op) for op in ops]
    return terms
