"""What each of `./mesh test`'s xdist workers runs, and in which order (the root conftest
installs this; pyproject's addopts: `--dist loadfile --no-loadscope-reorder`).

- A test module is one unit of work, as with `--dist loadfile`: its module fixtures are built
  once. The modules that use a costly per-process fixture form one unit, so that fixture is
  built on one worker only (`materialized_mesh`: the whole mesh, dbt builds included). xdist's
  `loadgroup` would say this with marks, but it cannot rename tests under pytest 9, so it
  silently splits every group; the unit is given by the scheduler instead (xdist's hook).
- Units are handed out longest first, the rest in collection order. xdist gives a worker its
  next unit when the current one is almost done, so a long unit handed out last runs alone at
  the end while the other worker has nothing left. xdist's own order (most tests first) did
  exactly that: the stack, daemon and image modules have few tests each, so they ran last.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadFileScheduling

# Per-process fixtures that cost a minute or more, and the modules using them: one worker.
SHARED_UNITS = {
    "materialized_mesh": (
        "tests/test_dbt_mesh.py",
        "tests/test_health_report.py",
        "tests/test_mesh_end_to_end.py",
    ),
}
UNIT_OF_MODULE = {module: unit for unit, modules in SHARED_UNITS.items() for module in modules}

# .ci/run builds the image tier's images in the background from its start; the image test
# goes last, when its builds are cache hits (without that prebuild it builds them itself).
LAST = ("tests/test_location_image.py",)

# Wall seconds of a unit in CI (2 cores, `.ci/run`'s `--durations` and per-test CPU): only the
# order matters, longest first. Units not listed follow, in collection order.
SECONDS = {
    "tests/test_oss_stack.py": 600,
    "tests/test_automation_daemon.py": 460,
    "tests/test_newcomer.py": 400,
    "tests/test_snowflake_path.py": 300,
    "tests/test_monitoring_daemon.py": 280,
    "materialized_mesh": 260,
    "tests/test_preview.py": 200,
    "tests/test_components.py": 150,
}


def unit_of(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return UNIT_OF_MODULE.get(module, module)


class LongestFirst(LoadFileScheduling):
    """`--dist loadfile`, with the modules of a shared fixture as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


def check_shared_units(items: list[pytest.Item]) -> None:
    """A module that uses a shared fixture must be listed with it, or a second worker
    builds it again."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        for fixture, modules in SHARED_UNITS.items():
            if fixture in item.fixturenames and module not in modules:
                raise pytest.UsageError(
                    f"{module} uses the {fixture} fixture: add it to SHARED_UNITS['{fixture}'] "
                    "in tests/support/scheduling.py, so that one worker builds it for all"
                )


def longest_first(items: list[pytest.Item]) -> None:
    """Order the units longest first (stable: a unit's tests keep their order, together)."""
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(unit_of(item.nodeid), len(first_seen))

    def rank(item: pytest.Item) -> tuple[bool, float, int]:
        unit = unit_of(item.nodeid)
        return (unit in LAST, -SECONDS.get(unit, 0), first_seen[unit])

    items.sort(key=rank)
