"""What a branch does to a table's data: the diff of two tables, computed in the warehouse.

For a product's main table (the baseline) and its branch table: the schema diff (added,
removed, retyped columns), row counts, rows added / removed / changed by the product's row key
(per tenant when the table has a tenant_id), per-column null fraction, distinct count and, for
numbers, sum/min/max, and a few sample changed rows. A table without a (usable) key is matched
by whole rows: the multiset difference of its rows over the columns both sides type alike (a
changed row shows as one removed and one added). That is a GROUP BY over both sides' rows with a
count per side, not EXCEPT ALL, which Snowflake does not have. Every figure is one aggregate query
written in DuckDB's dialect and transpiled with sqlglot for Snowflake; only the sample rows
are fetched to the client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlglot
from platform_core.identifiers import safe_identifier
from platform_core.warehouse.base import ColumnInfo, WarehouseSession

NUMERIC = ("integer", "decimal", "float")
SAMPLE_ROWS = 5
TENANT_COLUMN = "tenant_id"
_PRESENT = "mesh_diff_present"
_STATUS = "mesh_diff_status"
_SIDE = "mesh_diff_side"
_BASE_N = "mesh_diff_base_n"
_HEAD_N = "mesh_diff_head_n"
BY_KEY, BY_WHOLE_ROW = "key", "whole row"


@dataclass(frozen=True)
class Table:
    """`schema.table`, optionally in another database (DuckDB: an attached file)."""

    schema: str
    name: str
    database: str | None = None

    def sql(self) -> str:
        parts = [self.database] if self.database else []
        parts += [self.schema, self.name]
        return ".".join(safe_identifier(p, "identifier") for p in parts)


@dataclass
class ColumnStats:
    null_fraction: float | None
    distinct: int | None
    sum: float | None = None
    min: float | None = None
    max: float | None = None


@dataclass
class ColumnChange:
    column: str
    base: ColumnStats | None
    head: ColumnStats | None
    changed: list[str] = field(default_factory=list)  # null_fraction, distinct, sum, ...


@dataclass
class TableDiff:
    key: str  # asset key "domain/name"
    row_key: list[str]
    base_rows: int | None  # None: no baseline table (a new product)
    head_rows: int
    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)
    retyped_columns: list[str] = field(default_factory=list)  # "c: base type -> head type"
    added: int | None = None  # rows by key or whole row (None without a baseline)
    removed: int | None = None
    changed: int | None = None  # None when rows are matched by whole row
    row_match: str | None = None  # BY_KEY | BY_WHOLE_ROW (None: rows not matched)
    row_columns: list[str] = field(default_factory=list)  # compared whole-row columns
    by_tenant: dict[str, dict[str, int]] = field(default_factory=dict)  # tenant -> counts
    columns: list[ColumnChange] = field(default_factory=list)  # only columns that changed
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (
            self.added_columns
            or self.removed_columns
            or self.retyped_columns
            or self.added
            or self.removed
            or self.changed
            or self.columns
            or self.base_rows != self.head_rows
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def transpile(sql: str, dialect: str) -> str:
    """DuckDB-dialect `sql` in `dialect` ('duckdb' or 'snowflake')."""
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class DiffQueries:
    """The diff's SQL for one pair of tables, in one dialect."""

    def __init__(self, base: Table, head: Table, dialect: str) -> None:
        self.base, self.head, self.dialect = base, head, dialect

    def _q(self, sql: str) -> str:
        return transpile(sql, self.dialect)

    def row_count(self, table: Table) -> str:
        return self._q(f"select count(*) from {table.sql()}")

    def stats(self, table: Table, columns: list[ColumnInfo]) -> str:
        parts = []
        for c in columns:
            name = safe_identifier(c.name, "column")
            parts.append(f"avg(case when {name} is null then 1.0 else 0.0 end)")
            parts.append(f"count(distinct {name})")
            if c.logical_type in NUMERIC:
                parts += [f"sum(cast({name} as double))", f"min({name})", f"max({name})"]
        return self._q(f"select {', '.join(parts)} from {table.sql()}")

    def _joined(self, key: list[str], common: list[str]) -> tuple[str, str, str]:
        keys = [safe_identifier(k, "column") for k in key]
        on = " and ".join(f"b.{k} = h.{k}" for k in keys)
        values = [safe_identifier(c, "column") for c in common if c not in key]
        differs = " or ".join(f"b.{c} is distinct from h.{c}" for c in values) or "false"
        source = (
            f"(select *, 1 as {_PRESENT} from {self.base.sql()}) as b full outer join "
            f"(select *, 1 as {_PRESENT} from {self.head.sql()}) as h on {on}"
        )
        status = (
            f"case when b.{_PRESENT} is null then 'added' when h.{_PRESENT} is null then "
            f"'removed' when {differs} then 'changed' else 'same' end"
        )
        return source, status, differs

    def key_counts(self, key: list[str], common: list[str], by_tenant: bool) -> str:
        source, status, _ = self._joined(key, common)
        tenant = f"coalesce(h.{TENANT_COLUMN}, b.{TENANT_COLUMN})" if by_tenant else "''"
        return self._q(
            f"select {tenant} as tenant, {status} as status, count(*) as n from {source} "
            f"group by 1, 2 order by 1, 2"
        )

    def samples(self, key: list[str], common: list[str], limit: int) -> str:
        source, status, _ = self._joined(key, common)
        keys = [safe_identifier(k, "column") for k in key]
        chosen = ", ".join(f"coalesce(h.{k}, b.{k}) as {k}" for k in keys)
        both = ", ".join(
            f"b.{c} as base_{c}, h.{c} as head_{c}"
            for c in (safe_identifier(c, "column") for c in common if c not in key)
        )
        columns = ", ".join(p for p in (chosen, both) if p)
        order = ", ".join(f"{i + 2}" for i in range(len(keys)))
        return self._q(
            f"select * from (select {status} as {_STATUS}, {columns} from {source}) as d "
            f"where {_STATUS} <> 'same' order by 1, {order} limit {int(limit)}"
        )

    def _multiset(self, columns: list[str]) -> str:
        """Each distinct row over `columns` with how often it occurs in base and in head."""
        cols = ", ".join(safe_identifier(c, "column") for c in columns)
        return (
            f"select {cols}, sum(case when {_SIDE} = 'b' then 1 else 0 end) as {_BASE_N}, "
            f"sum(case when {_SIDE} = 'h' then 1 else 0 end) as {_HEAD_N} from ("
            f"select {cols}, 'b' as {_SIDE} from {self.base.sql()} union all "
            f"select {cols}, 'h' as {_SIDE} from {self.head.sql()}) as u group by {cols}"
        )

    def row_counts(self, columns: list[str], by_tenant: bool) -> str:
        """Rows added and removed as multisets of whole rows (per tenant if asked)."""
        tenant = TENANT_COLUMN if by_tenant else "''"
        return self._q(
            f"select {tenant} as tenant, sum(greatest({_HEAD_N} - {_BASE_N}, 0)) as added, "
            f"sum(greatest({_BASE_N} - {_HEAD_N}, 0)) as removed "
            f"from ({self._multiset(columns)}) as m group by 1 order by 1"
        )

    def row_samples(self, columns: list[str], limit: int) -> str:
        cols = ", ".join(safe_identifier(c, "column") for c in columns)
        order = ", ".join(str(i + 2) for i in range(len(columns)))
        return self._q(
            f"select case when {_BASE_N} > {_HEAD_N} then 'removed' else 'added' end "
            f"as {_STATUS}, {cols} from ({self._multiset(columns)}) as m "
            f"where {_BASE_N} <> {_HEAD_N} order by 1, {order} limit {int(limit)}"
        )


def _stats_of(row: tuple[Any, ...], columns: list[ColumnInfo]) -> dict[str, ColumnStats]:
    out, i = {}, 0
    for c in columns:
        stats = ColumnStats(_number(row[i]), int(row[i + 1]))
        i += 2
        if c.logical_type in NUMERIC:
            stats.sum, stats.min, stats.max = (_number(v) for v in row[i : i + 3])
            i += 3
        out[c.name] = stats
    return out


def _differs(a: float | int | None, b: float | int | None) -> bool:
    if a is None or b is None:
        return a is not b
    return abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a)), abs(float(b)))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def diff_tables(
    session: WarehouseSession,
    key: str,
    base: Table | None,
    head: Table,
    row_key: list[str] | None = None,
    dialect: str = "duckdb",
    sample_rows: int = SAMPLE_ROWS,
) -> TableDiff:
    """The diff of `head` against `base` (None or missing: a new table), read by `session`."""
    head_columns = _columns(session, head)
    base_columns = _columns(session, base) if base is not None else []
    queries = DiffQueries(base or head, head, dialect)
    head_rows = int(session.fetch(queries.row_count(head))[0][0])
    if base is None or not base_columns:
        return TableDiff(key, list(row_key or []), None, head_rows)
    base_types = {c.name: c for c in base_columns}
    head_types = {c.name: c for c in head_columns}
    common = [c.name for c in head_columns if c.name in base_types]
    diff = TableDiff(
        key,
        list(row_key or []),
        int(session.fetch(queries.row_count(base))[0][0]),
        head_rows,
        added_columns=[c for c in head_types if c not in base_types],
        removed_columns=[c for c in base_types if c not in head_types],
        retyped_columns=[
            f"{c}: {base_types[c].warehouse_type} -> {head_types[c].warehouse_type}"
            for c in common
            if base_types[c].warehouse_type.lower() != head_types[c].warehouse_type.lower()
        ],
    )
    # Sums only where both sides are numbers (a retyped column may not be on one side).
    comparable = [
        head_types[c]
        if base_types[c].logical_type in NUMERIC
        else ColumnInfo(c, head_types[c].warehouse_type, "string")
        for c in common
    ]
    if not comparable:  # nothing in common to compare: the schema diff says it all
        return diff
    before = _stats_of(session.fetch(queries.stats(base, comparable))[0], comparable)
    after = _stats_of(session.fetch(queries.stats(head, comparable))[0], comparable)
    for name in common:
        a, b = before[name], after[name]
        moved = [
            stat
            for stat in ("null_fraction", "distinct", "sum", "min", "max")
            if _differs(getattr(a, stat), getattr(b, stat))
        ]
        if moved:
            diff.columns.append(ColumnChange(name, a, b, moved))
    usable_key = [k for k in row_key or [] if k in base_types and k in head_types]
    by_tenant = TENANT_COLUMN in base_types and TENANT_COLUMN in head_types
    if usable_key and len(usable_key) == len(row_key or []):
        _match_by_key(session, queries, diff, usable_key, common, by_tenant, sample_rows)
    else:  # no key, or a key column is missing on one side: whole rows of like-typed columns
        alike = [
            c
            for c in common
            if base_types[c].warehouse_type.lower() == head_types[c].warehouse_type.lower()
        ]
        _match_whole_rows(session, queries, diff, alike, by_tenant, sample_rows)
    return diff


def _match_by_key(
    session: WarehouseSession,
    queries: DiffQueries,
    diff: TableDiff,
    usable_key: list[str],
    common: list[str],
    by_tenant: bool,
    sample_rows: int,
) -> None:
    """Rows added/removed/changed, paired by the row key."""
    diff.row_match = BY_KEY
    counts = {"added": 0, "removed": 0, "changed": 0}
    for tenant, status, n in session.fetch(queries.key_counts(usable_key, common, by_tenant)):
        if status == "same":
            continue
        counts[status] += int(n)
        if by_tenant:
            diff.by_tenant.setdefault(str(tenant), {"added": 0, "removed": 0, "changed": 0})
            diff.by_tenant[str(tenant)][status] = int(n)
    diff.added, diff.removed, diff.changed = (
        counts["added"],
        counts["removed"],
        counts["changed"],
    )
    if sample_rows and (diff.added or diff.removed or diff.changed):
        sql = queries.samples(usable_key, common, sample_rows)
        names = [_STATUS, *usable_key]
        names += [f"{side}_{c}" for c in common if c not in usable_key for side in ("base", "head")]
        for row in session.fetch(sql):
            values = dict(zip(names, row, strict=False))
            status = values[_STATUS]
            sample = {"change": status, **{k: _plain(values[k]) for k in usable_key}}
            for c in common:
                if c in usable_key:
                    continue
                old, new = values[f"base_{c}"], values[f"head_{c}"]
                if status == "changed" and old == new:
                    continue
                sample[c] = (
                    [_plain(old), _plain(new)]
                    if status == "changed"
                    else _plain(old if new is None else new)
                )
            diff.samples.append(sample)


def _match_whole_rows(
    session: WarehouseSession,
    queries: DiffQueries,
    diff: TableDiff,
    columns: list[str],
    by_tenant: bool,
    sample_rows: int,
) -> None:
    """Rows added/removed as whole rows over `columns` (no key to pair them by)."""
    if not columns:
        return
    by_tenant = by_tenant and TENANT_COLUMN in columns
    diff.row_match, diff.row_columns = BY_WHOLE_ROW, list(columns)
    diff.added = diff.removed = 0
    for tenant, added, removed in session.fetch(queries.row_counts(columns, by_tenant)):
        added, removed = int(added or 0), int(removed or 0)
        diff.added += added
        diff.removed += removed
        if by_tenant and (added or removed):
            diff.by_tenant[str(tenant)] = {"added": added, "removed": removed}
    if sample_rows and (diff.added or diff.removed):
        for row in session.fetch(queries.row_samples(columns, sample_rows)):
            sample = {"change": row[0]}
            sample.update({c: _plain(v) for c, v in zip(columns, row[1:], strict=True)})
            diff.samples.append(sample)


def _columns(session: WarehouseSession, table: Table | None) -> list[ColumnInfo]:
    if table is None:
        return []
    if table.database is None:
        return session.columns(table.schema, table.name)
    # An attached DuckDB file: its information_schema lives under its catalog name.
    rows = session.fetch(
        "select column_name, data_type, numeric_scale from information_schema.columns "
        f"where table_catalog = '{safe_identifier(table.database, 'database')}' "
        f"and table_schema = '{safe_identifier(table.schema, 'schema')}' "
        f"and table_name = '{safe_identifier(table.name, 'table')}' order by ordinal_position"
    )
    from platform_core.warehouse.base import columns_from_rows

    return columns_from_rows(rows)


def table_diff_from_json(data: dict[str, Any]) -> TableDiff:
    def stats(raw: dict[str, Any] | None) -> ColumnStats | None:
        return None if raw is None else ColumnStats(**raw)

    columns = [
        ColumnChange(c["column"], stats(c["base"]), stats(c["head"]), list(c["changed"]))
        for c in data.get("columns", [])
    ]
    return TableDiff(**{**data, "columns": columns})
