"""Views of a pull request's clone that still read another database, re-pointed into the clone.

A zero-copy clone keeps each view's text as written, and dbt writes fully qualified names: a
cloned `marketing.x` still reads `<PRODUCTION>.sales.orders`, production's table, whoever
queries it in the clone (the branch's SQL names only `schema.table`, so no check of the
branch's statements sees it). So every view of the clone is parsed (sqlglot, Snowflake
dialect): one that names production is re-created in the clone with production's name replaced
by the clone's; one that names any other database, or that cannot be parsed or read, cannot be
proved to stay in the clone and is an error naming it. The clone step runs this right after the
clone is made (the platform's identity), and the in-clone preview again before it reads
anything (the branch's identity, which owns the clone's views), for clones made before.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from platform_core.errors import ConfigurationError
from platform_core.identifiers import safe_identifier
from platform_core.warehouse.base import WarehouseSession


class ViewOutsideTheClone(ConfigurationError):
    """A view of the clone reads a database that is neither the clone nor production."""


@dataclass(frozen=True)
class ForeignView:
    schema: str
    name: str
    databases: tuple[str, ...]  # the other databases its definition names (upper case)
    definition: str

    @property
    def ref(self) -> str:
        return f"{self.schema}.{self.name}".lower()


def _parse(definition: str, ref: str) -> exp.Create:
    try:
        statement = sqlglot.parse_one(definition, read="snowflake")
    except ParseError as exc:
        statement = None
        reason = str(exc).splitlines()[0][:200]
    else:
        reason = f"it is a {type(statement).__name__}, not CREATE VIEW"
    if not isinstance(statement, exp.Create) or str(statement.args.get("kind")).upper() != "VIEW":
        raise ViewOutsideTheClone(
            f"The clone's view {ref} cannot be checked ({reason}), so it may read another "
            "database. Fix: re-create it in the clone from its dbt model (`dbt run --select` "
            "it in the branch), or drop it."
        )
    return statement


def _databases(statement: exp.Expression) -> set[str]:
    named = {t.catalog.upper() for t in statement.find_all(exp.Table) if t.catalog}
    named |= {c.catalog.upper() for c in statement.find_all(exp.Column) if c.catalog}
    return named


def foreign_views(session: WarehouseSession, clone: str) -> list[ForeignView]:
    """Views of `clone` whose definition names any other database."""
    database = safe_identifier(clone.lower(), "database").upper()
    rows = session.fetch(
        f"select table_schema, table_name, view_definition from {database}.information_schema.views"
        f" where table_schema <> 'INFORMATION_SCHEMA' and table_catalog = '{database}'"
    )
    found = []
    for schema, name, definition in rows:
        ref = f"{schema}.{name}".lower()
        if not definition:  # a secure view shows no text to a non-owner: unknown is not safe
            raise ViewOutsideTheClone(
                f"The clone's view {ref} shows no definition, so it may read another database. "
                "Fix: run this with the role that owns the clone's views (the clone step's)."
            )
        others = _databases(_parse(str(definition), ref)) - {database}
        if others:
            found.append(ForeignView(str(schema), str(name), tuple(sorted(others)), definition))
    return found


def repointed_definition(view: ForeignView, clone: str, production: str) -> str:
    """`create or replace view` of `view` in the clone, production's name replaced by the
    clone's (the view itself included); any other database is an error."""
    clone, production = clone.upper(), production.upper()
    outside = [d for d in view.databases if d not in (production, clone)]
    if outside:
        raise ViewOutsideTheClone(
            f"The clone's view {view.ref} reads {', '.join(outside)}, a database outside the "
            f"clone {clone}: the branch would read it. Fix: build what it reads in the mesh (a "
            "source the clone holds), or make the view name its tables as schema.table."
        )
    statement = _parse(view.definition, view.ref)
    for node in statement.find_all(exp.Table, exp.Column):
        if node.catalog and node.catalog.upper() == production:
            node.set("catalog", exp.to_identifier(clone))
    target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
    if isinstance(target, exp.Table):  # the view's own name: in the clone
        target.set("catalog", exp.to_identifier(clone))
        target.set("db", exp.to_identifier(safe_identifier(view.schema.lower(), "schema").upper()))
    statement.set("replace", True)
    return statement.sql(dialect="snowflake")


def repoint_views(session: WarehouseSession, clone: str, production: str) -> list[str]:
    """Re-create every view of `clone` that names production inside the clone; returns their
    `schema.name`. Refuses (before changing anything) if a view names any other database."""
    views = foreign_views(session, clone)
    statements = [repointed_definition(view, clone, production) for view in views]
    for statement in statements:
        session.execute(statement)
    return [view.ref for view in views]
