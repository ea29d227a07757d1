"""Parsing click events: good rows typed, every kind of malformed message refused with a reason."""

from datetime import datetime

import pytest
from platform_core.errors import ConfigurationError
from platform_core.streaming.events import EventSchema, RawMessage

SCHEMA = EventSchema({"click_id": "integer", "tenant_id": "string", "clicked_at": "timestamp"})
GOOD = b'{"click_id": 7, "tenant_id": "t001", "clicked_at": "2026-01-02T03:04:05+01:00"}'


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"click_id": 7,', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object but list"),
        (b'{"click_id": 7, "tenant_id": "t001"}', "missing field 'clicked_at'"),
        (b'{"click_id": "7", "tenant_id": "t001", "clicked_at": "2026-01-02"}',
         "field 'click_id' is '7', expected an integer"),
        (b'{"click_id": true, "tenant_id": "t001", "clicked_at": "2026-01-02"}',
         "field 'click_id' is True, expected an integer"),
        (b'{"click_id": 7, "tenant_id": "t001", "clicked_at": "yesterday"}',
         "field 'clicked_at' is 'yesterday', expected an ISO-8601 timestamp string"),
        (None, "empty message"),
    ],
)  # fmt: skip
def test_malformed_messages_are_refused_with_a_reason(value, reason):
    row, refusal = SCHEMA.refusal(value)
    assert row is None
    assert refusal.startswith(reason)


def test_a_batch_splits_into_typed_rows_and_dead_letters_with_offsets_and_raw_bytes():
    parsed = SCHEMA.parse(
        [RawMessage(2, 40, 1_700_000_000_000, GOOD), RawMessage(2, 41, 1_700_000_000_001, b"{")]
    )
    assert parsed.rows.num_rows == 1
    row = parsed.rows.to_pylist()[0]
    assert row["click_id"] == 7
    assert row["clicked_at"] == datetime(2026, 1, 2, 2, 4, 5)  # stored as naive UTC
    assert (row["source_partition"], row["source_offset"]) == (2, 40)
    dead = parsed.dead_letters.to_pylist()[0]
    assert (dead["source_partition"], dead["source_offset"], dead["raw"]) == (2, 41, b"{")
    assert dead["reason"].startswith("not JSON")


def test_an_unknown_field_type_is_refused_naming_the_field_and_the_fix():
    with pytest.raises(ConfigurationError, match=r"'price' has type 'money'.*Fix: use one of"):
        EventSchema({"price": "money"})
