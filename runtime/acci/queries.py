"""The query side: typed, tenant-scoped reads of read models.

acci-gen generates one `QueryHandler` subclass per domain with one method per declared query; each
method names a `Query` (its parameters model, its row model and its SQL) and hands the caller's
values to `fetch_all` or `fetch_one`. What every query shares lives here: parameter validation
(a bad value raises InvalidQuery and reads nothing), the statement for the parameters given, and
typed rows.

A query's WHERE is a list of conditions (ANDed) with named placeholders, and `any_of(...)` groups
(ORed). A condition with a placeholder that is None (an optional parameter left out) holds for
every row, which is what "no filter" means: it is left out of the statement, and so is a group
with such a condition. So each combination of optional filters is a statement of its own,
prepared with its own plan, rather than one statement full of `(%s IS NULL OR ...)` that the
planner can only answer with one plan for all of them (the event store reads the same way:
`_read_all_query` in `acci.store.postgres`).

Two derived placeholders exist besides the parameters and `tenant_id`: `%(contains:name)s` is the
ILIKE pattern that finds the text of parameter `name` anywhere (its `%`, `_` and backslashes
escaped), and `%(after:column)s` is that column of the row a keyset page continues after.

Queries read `store.read_pool`: the primary, or a streaming replica when the service has a read
URL (ACCI_DATABASE__READ_URL). A handler made with a position (`XQueries.of(store,
position=result.position)`) reads its own writes there: before each query it waits until the
read database holds that position and every projection the query reads (`Query.reads`) has
passed it (acci.projections.consistency), or raises ConsistencyTimeout after `within` seconds.
Without a position it reads what the read database has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Self, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ValidationError

from acci import tracing
from acci.commands import value_problems
from acci.errors import InvalidQuery
from acci.projections.consistency import ReadModel, wait_until_passed
from acci.store.postgres import PostgresEventStore
from acci.streams import Position

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s")


def escape_like(text: str) -> str:
    """`text` as a literal inside a LIKE or ILIKE pattern: its %, _ and backslashes match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def check_parameters(model: type[P], query: str, values: Mapping[str, Any]) -> P:
    """The parameters validated by their model; InvalidQuery (naming each problem) if they are not."""
    try:
        checked = model.model_validate(values)
    except ValidationError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        raise InvalidQuery(query, problems) from error
    problems = value_problems(checked.model_dump(mode="json"))
    if problems:
        raise InvalidQuery(query, problems)
    return checked


@dataclass(frozen=True)
class AnyOf:
    """Conditions of which one must hold (SQL OR)."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AllOf:
    """Conditions that must all hold (SQL AND), inside an `any_of`."""

    conditions: tuple[Condition, ...]


#: A condition with placeholders, or a group of them.
Condition = str | AnyOf | AllOf


def any_of(*conditions: Condition) -> AnyOf:
    return AnyOf(conditions)


def all_of(*conditions: Condition) -> AllOf:
    return AllOf(conditions)


def _placeholders(condition: Condition) -> list[str]:
    if isinstance(condition, str):
        return _PLACEHOLDER.findall(condition)
    return [name for part in condition.conditions for name in _placeholders(part)]


def _sql(condition: Condition, missing: frozenset[str]) -> str | None:
    """The condition's SQL, or None where it holds for every row (a placeholder is missing)."""
    if isinstance(condition, str):
        return None if any(name in missing for name in _PLACEHOLDER.findall(condition)) else condition
    parts = [_sql(part, missing) for part in condition.conditions]
    kept = [part for part in parts if part is not None]
    if isinstance(condition, AnyOf):  # one condition that holds anyway: so does the group
        return "(" + " OR ".join(kept) + ")" if len(kept) == len(parts) else None
    return "(" + " AND ".join(kept) + ")" if kept else None


class Query(Generic[P, R]):
    """One declared query: its name (for errors), the models of its parameters and of its rows, and
    its SQL in parts: `select` (SELECT ... FROM ...), the `where` conditions (ANDed; see the module
    docstring for the ones that are left out) and the `tail` (ORDER BY, LIMIT, OFFSET)."""

    def __init__(
        self,
        name: str,
        parameters: type[P],
        row: type[R],
        select: str,
        *,
        where: Sequence[Condition] = (),
        tail: str = "",
        reads: Sequence[ReadModel] = (),
    ) -> None:
        self.name = name
        #: The projections whose read models it reads: a read with a position waits for them.
        self.reads = tuple(reads)
        self.parameters = parameters
        self.row = row
        self.select = select
        self.where = tuple(where)
        self.tail = tail
        self.placeholders = sorted({name for condition in self.where for name in _placeholders(condition)})
        self._statements: dict[frozenset[str], str] = {}

    def statement(self, values: Mapping[str, Any]) -> str:
        """The SQL for these values: without the conditions that hold anyway (see the module)."""
        missing = frozenset(name for name in self.placeholders if values.get(name) is None)
        text = self._statements.get(missing)
        if text is None:
            conditions = [sql for c in self.where if (sql := _sql(c, missing)) is not None]
            text = self.select + (" WHERE " + " AND ".join(conditions) if conditions else "")
            text += f" {self.tail}" if self.tail else ""
            self._statements[missing] = text
        return text

    def values(self, tenant_id: str, parameters: P, after: BaseModel | None) -> dict[str, Any]:
        """The placeholders' values: `tenant_id`, the parameters (enums as their text), and the
        derived `contains:` patterns and `after:` columns the statement names."""
        values: dict[str, Any] = {"tenant_id": tenant_id}
        for name in type(parameters).model_fields:
            value = getattr(parameters, name)
            values[name] = value.value if isinstance(value, Enum) else value
        for name in self.placeholders:
            kind, _, source = name.partition(":")
            if kind == "contains":
                text = values.get(source)
                values[name] = None if text is None else f"%{escape_like(str(text))}%"
            elif kind == "after":
                values[name] = None if after is None else getattr(after, source)
        return values


class QueryHandler:
    """The guide's query handler: generated subclasses have one method per query of a domain.
    Every query is scoped to one tenant; parameters are validated before anything is read."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        *,
        position: Position | None = None,
        within: float = 5.0,
    ) -> None:
        self.pool = pool
        #: Read your writes: every query first waits until its read models have passed this
        #: position (a command's `result.position`), at most `within` seconds.
        self.position = position
        self.within = within

    @classmethod
    def of(
        cls, store: PostgresEventStore, *, position: Position | None = None, within: float | None = None
    ) -> Self:
        """The handler on the store's read pool (a replica's, if it has one); with `position`,
        it reads its writes (see the module). `within` defaults to the store's
        `read_your_writes_timeout`."""
        wait = store.read_your_writes_timeout if within is None else within
        return cls(store.read_pool, position=position, within=wait)

    async def fetch_all(
        self, query: Query[P, R], tenant_id: str, values: Mapping[str, Any], after: BaseModel | None = None
    ) -> list[R]:
        """The rows the query finds for the tenant and the parameter values; `after` (keyset
        pages) is the last row of the previous page."""
        parameters = check_parameters(query.parameters, query.name, values)
        sql_values = query.values(tenant_id, parameters, after)
        # Generated handlers live in `<domain>.queries`: the span is named `<domain>.<query>`.
        with tracing.query(f"{type(self).__module__.partition('.')[0]}.{query.name}"):
            await wait_until_passed(self.pool, query.reads, self.position, within=self.within)
            async with self.pool.connection() as conn:
                cursor = conn.cursor(row_factory=class_row(query.row))
                await cursor.execute(query.statement(sql_values), sql_values)
                return await cursor.fetchall()

    async def fetch_one(self, query: Query[P, R], tenant_id: str, values: Mapping[str, Any]) -> R | None:
        """The first row the query finds, or None."""
        rows = await self.fetch_all(query, tenant_id, values)
        return rows[0] if rows else None
