"""What each xdist worker ran, in order, with wall seconds per unit (tests/support/scheduling.py),
printed after the run: the critical path of `./mesh test` is the busiest worker, and this shows
which units made it so (what to cut, or to start earlier)."""

from __future__ import annotations

import pytest

from tests.support.scheduling import unit_of


class WorkerReport:
    def __init__(self) -> None:
        self._units: dict[str, dict[str, float]] = {}  # worker -> {unit: seconds}, in run order

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        node = getattr(report, "node", None)  # set by xdist on the controller
        if node is None:
            return
        units = self._units.setdefault(node.gateway.id, {})
        unit = unit_of(report.nodeid)
        units[unit] = units.get(unit, 0.0) + report.duration

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self._units:
            return
        terminalreporter.write_sep("=", "wall seconds per worker, units in run order")
        for worker, units in sorted(self._units.items()):
            terminalreporter.write_line(f"{worker}: {sum(units.values()):.0f} s")
            for unit, seconds in units.items():
                if seconds >= 5:
                    terminalreporter.write_line(f"  {seconds:7.1f} s  {unit}")
