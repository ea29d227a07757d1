"""CPU seconds per test, printed after the run beside `--durations`.

On 2 shared cores the suite's wall time is bound by CPU, not by waiting: a test's CPU
(this process plus every child it started and reaped, with theirs) is what it costs the
others. Each xdist worker measures its tests and sends the figure with the teardown report;
the controller prints the most expensive ones. A session fixture's cost lands on the test
whose setup or teardown ran it.
"""

from __future__ import annotations

import resource

import pytest

_KEY = "cpu_seconds"
_TOP = 25


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CpuReport:
    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._spent: dict[str, float] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._started[item.nodeid] = _cpu()  # before any fixture of this test is set up

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if call.when == "teardown" and item.nodeid in self._started:
            report.user_properties.append((_KEY, _cpu() - self._started.pop(item.nodeid)))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == _KEY and report.when == "teardown":
                self._spent[report.nodeid] = float(value)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self._spent:
            return
        total = sum(self._spent.values())
        terminalreporter.write_sep("=", f"most CPU per test (all tests: {total:.0f} CPU s)")
        ranked = sorted(self._spent.items(), key=lambda item: -item[1])[:_TOP]
        for nodeid, seconds in ranked:
            terminalreporter.write_line(f"{seconds:8.1f} CPU s  {nodeid}")
