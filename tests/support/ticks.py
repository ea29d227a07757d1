"""Wait on the daemon's own records instead of sleeping: "nothing happened" means something
only after the actor that would have made it happen has looked, and looked again.

A tick counts once it has completed (any status but STARTED) and started after the wait
began, so it evaluated the state the test had set up; the tick records are the instance's
(`DagsterInstance.all_instigator_state` / `get_ticks`), the same the UI shows."""

import time

import dagster as dg

from tests.support.processes import wait_for


def _instigator(instance: dg.DagsterInstance, name: str):
    states = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    if len(states) > 1:
        raise AssertionError(f"{len(states)} sensors/schedules are named {name!r}; name one")
    return states[0] if states else None


def completed_ticks_since(instance: dg.DagsterInstance, name: str, since: float) -> int:
    """Completed ticks of the sensor or schedule `name` that started after `since` (epoch s)."""
    state = _instigator(instance, name)
    if state is None:
        return 0
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since)
    return sum(1 for t in ticks if t.status.value != "STARTED" and t.timestamp > since)


def wait_for_ticks(
    instance: dg.DagsterInstance, names: str | list[str], count: int = 2, timeout: float = 120
) -> None:
    """Block until each of `names` has completed `count` ticks that started after this call."""
    since = time.time()
    for name in [names] if isinstance(names, str) else names:
        wait_for(
            lambda name=name: completed_ticks_since(instance, name, since) >= count,
            timeout,
            f"{count} completed ticks of {name}",
        )
