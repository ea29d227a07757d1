"""A deployment tunes a stream's knobs from its environment; a bad value or a misspelt knob is
an error naming the variable and the fix."""

from collections import Counter

import pytest
from platform_core.errors import ConfigurationError
from platform_core.streaming import Stream, StreamKnobs
from platform_core.streaming.events import EventSchema
from platform_core.streaming.sensor import knobs_from_env, run_request

CLICKS = Stream("clicks", "clicks", "marketing/click_events", EventSchema({"id": "integer"}))


def test_overrides_replace_only_the_knobs_set():
    stream = CLICKS.configured(
        {
            "MESH_STREAM_CLICKS_RUN_TIMEOUT_SECONDS": "20",
            "MESH_STREAM_CLICKS_MAX_TICK_RUNTIME_SECONDS": "2.5",
            "MESH_STREAM_OTHER_MAX_BATCH_SIZE": "7",  # another stream's
            "MESH_STREAM_CLICKS_B_MAX_BATCH_SIZE": "7",  # a stream named clicks_b
        }
    )
    assert stream.knobs == StreamKnobs(run_timeout_seconds=20, max_tick_runtime_seconds=2.5)
    assert CLICKS.configured({}).knobs == StreamKnobs()


def test_the_run_timeout_becomes_each_runs_max_runtime_and_the_sensor_owns_retries():
    knobs = knobs_from_env(
        "clicks", StreamKnobs(), {"MESH_STREAM_CLICKS_RUN_TIMEOUT_SECONDS": "45"}
    )
    request = run_request("clicks", "op", [], Counter(), knobs)
    assert request.tags["dagster/max_runtime"] == "45"
    assert request.tags["dagster/max_retries"] == "0"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MESH_STREAM_CLICKS_RUN_TIMEOUT", "20", "is not a knob of stream 'clicks'"),
        ("MESH_STREAM_CLICKS_MAX_BATCH_SIZE", "1.5", "must be a whole number >= 1"),
        ("MESH_STREAM_CLICKS_MAX_BATCH_SIZE", "0", "must be a whole number >= 1"),
        ("MESH_STREAM_CLICKS_JOIN_TIMEOUT_SECONDS", "soon", "must be a number > 0"),
    ],
)
def test_a_bad_override_names_the_variable_and_the_fix(variable, value, message):
    with pytest.raises(ConfigurationError) as error:
        CLICKS.configured({variable: value})
    assert variable in str(error.value) and message in str(error.value)
    assert "Fix:" in str(error.value)
