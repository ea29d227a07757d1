"""Validation of names that reach SQL (schemas, tables, columns, tenant ids)."""

from __future__ import annotations

import re

from platform_core.errors import UnsafeIdentifierError

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")  # always used with fullmatch


def safe_identifier(name: str, what: str = "identifier") -> str:
    """Return `name` if it is a lower-case SQL identifier, else raise naming `what`.

    Only `[a-z][a-z0-9_]*` (at most 63 characters, PostgreSQL's limit) ever reaches SQL
    unquoted, so quoting rules of DuckDB, Snowflake and PostgreSQL never matter.
    """
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise UnsafeIdentifierError(
            f"{what} {name!r} is not allowed in SQL: use lower-case letters, digits and "
            "underscores, starting with a letter (at most 63 characters)."
        )
    return name


def qualified(schema: str, table: str) -> str:
    return f"{safe_identifier(schema, 'schema')}.{safe_identifier(table, 'table')}"
