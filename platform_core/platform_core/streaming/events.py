"""Event schemas: parse raw Kafka messages into typed rows, or into dead letters with a reason.

A malformed message (not JSON, not an object, a field missing, a field of the wrong type) never
fails a batch: it becomes a dead letter carrying its raw bytes, its offset and why it was
refused, and the rest of the batch lands.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from platform_core.errors import ConfigurationError
from platform_core.identifiers import safe_identifier

if TYPE_CHECKING:
    import pyarrow as pa

EVENT_TYPES = ("string", "integer", "float", "boolean", "timestamp")


# pyarrow (~0.2 s to import) is needed by the run that parses, not by the location's load.
@cache
def _arrow_types() -> dict[str, pa.DataType]:
    """Contract type -> Arrow type. Booleans are not integers here, even in Python."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "float": pa.float64(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("us"),
    }


@cache
def _source_columns() -> list[tuple[str, pa.DataType]]:
    """Columns every landed row carries: where it came from, so landing is keyed on offsets."""
    import pyarrow as pa

    return [
        ("source_partition", pa.int32()),
        ("source_offset", pa.int64()),
        ("produced_at", pa.timestamp("ms")),
    ]


@cache
def dead_letter_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("source_partition", pa.int32()),
            ("source_offset", pa.int64()),
            ("produced_at", pa.timestamp("ms")),
            ("raw", pa.binary()),
            ("reason", pa.string()),
        ]
    )


@dataclass(frozen=True)
class RawMessage:
    """What a run read from Kafka: position, producer timestamp (ms) and bytes."""

    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError
    parsed = datetime.fromisoformat(value)
    # Stored as naive UTC, the warehouse convention for `timestamp` columns.
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


_CONVERT = {
    "string": lambda v: v if isinstance(v, str) else _raise(),
    "integer": lambda v: v if isinstance(v, int) and not isinstance(v, bool) else _raise(),
    "float": lambda v: (
        float(v) if isinstance(v, int | float) and not isinstance(v, bool) else _raise()
    ),
    "boolean": lambda v: v if isinstance(v, bool) else _raise(),
    "timestamp": _timestamp,
}
_EXPECTED = {
    "string": "a string",
    "integer": "an integer",
    "float": "a number",
    "boolean": "true or false",
    "timestamp": "an ISO-8601 timestamp string",
}


def _raise() -> Any:
    raise TypeError


@dataclass(frozen=True)
class Parsed:
    rows: pa.Table
    dead_letters: pa.Table


@dataclass(frozen=True)
class EventSchema:
    """The fields of a JSON event, as contract types; `required` ones must be present."""

    fields: Mapping[str, str]
    optional: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name, kind in self.fields.items():
            safe_identifier(name, "event field")
            if kind not in EVENT_TYPES:
                raise ConfigurationError(
                    f"Event field '{name}' has type '{kind}'. "
                    f"Fix: use one of {', '.join(EVENT_TYPES)}."
                )

    @property
    def arrow_schema(self) -> pa.Schema:
        import pyarrow as pa

        types = _arrow_types()
        return pa.schema([(n, types[k]) for n, k in self.fields.items()] + _source_columns())

    def refusal(self, value: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
        """(row, None) for a good message, (None, reason) for a malformed one."""
        if value is None:
            return None, "empty message (no value)"
        try:
            event = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return None, f"not JSON: {error}"
        if not isinstance(event, dict):
            return None, f"not a JSON object but {type(event).__name__}"
        row: dict[str, Any] = {}
        for name, kind in self.fields.items():
            raw = event.get(name)
            if raw is None:
                if name in self.optional:
                    row[name] = None
                    continue
                return None, f"missing field '{name}'"
            try:
                row[name] = _CONVERT[kind](raw)
            except (TypeError, ValueError):
                return None, f"field '{name}' is {raw!r}, expected {_EXPECTED[kind]}"
        return row, None

    def parse(self, messages: Iterable[RawMessage]) -> Parsed:
        import pyarrow as pa

        schema, dead_schema = self.arrow_schema, dead_letter_schema()
        columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        dead: dict[str, list[Any]] = {name: [] for name in dead_schema.names}
        for message in messages:
            row, reason = self.refusal(message.value)
            if row is None:
                dead["source_partition"].append(message.partition)
                dead["source_offset"].append(message.offset)
                dead["produced_at"].append(message.timestamp_ms)
                dead["raw"].append(message.value)
                dead["reason"].append(reason)
                continue
            for name, value in row.items():
                columns[name].append(value)
            columns["source_partition"].append(message.partition)
            columns["source_offset"].append(message.offset)
            columns["produced_at"].append(message.timestamp_ms)
        return Parsed(
            pa.table(columns, schema=schema),
            pa.table(dead, schema=dead_schema),
        )
