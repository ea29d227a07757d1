"""The policy engine: run every rule over the mesh, apply waivers and the baseline."""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import governance.rules  # noqa: F401  (importing the package registers every rule)
from governance.config import WAIVERS_FILE, GovernanceConfig
from governance.model import MeshGraph
from governance.ruleset import RULES, GateContext, Rule, Severity, Violation, rule
from governance.yamllines import list_item_lines

__all__ = ["RULES", "GateContext", "GateResult", "Rule", "Severity", "Violation", "rule"]


@dataclass
class GateResult:
    violations: list[Violation]
    waived: list[Violation]
    baselined: list[Violation]
    load_seconds: float = 0.0
    rules_seconds: float = 0.0
    examined: dict[str, int] = field(default_factory=dict)  # locations, assets, checks, ...
    cached: list[str] = field(default_factory=list)  # locations taken from the cache

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity is Severity.WARNING]

    @property
    def passed(self) -> bool:
        return not self.errors


def evaluate(context: GateContext, only: set[str] | None = None) -> list[Violation]:
    overrides = context.config.policy.severity
    found: list[Violation] = []
    for rule_def in RULES.values():
        if only and rule_def.id not in only:
            continue
        configured = overrides.get(rule_def.id)
        if configured == "off":
            continue
        for violation in rule_def.check(context):
            if configured in ("error", "warning"):
                violation.severity = Severity(configured)
            found.append(violation)
    return sorted(found, key=lambda v: (v.rule, v.target, v.message))


def _matches(pattern: str, violation: Violation) -> bool:
    return any(
        fnmatch.fnmatchcase(candidate, pattern)
        for candidate in (violation.target, violation.file)
        if candidate
    )


def apply_waivers(
    context: GateContext, violations: list[Violation]
) -> tuple[list[Violation], list[Violation]]:
    """Split into (kept, waived); expired and unused waivers become violations themselves."""
    waivers = context.config.waivers.waivers
    waivers_file = f"governance/{WAIVERS_FILE}"
    lines = list(
        list_item_lines(context.config.directory / WAIVERS_FILE, "waivers", "rule").values()
    )
    used: set[int] = set()
    kept, waived = [], []
    for violation in violations:
        for index, waiver in enumerate(waivers):
            if waiver.rule == violation.rule and _matches(waiver.target, violation):
                used.add(index)
                if waiver.expires >= context.today:
                    violation.waived_by = waiver.reason
                    waived.append(violation)
                    break
        else:
            kept.append(violation)
    for index, waiver in enumerate(waivers):
        line = _waiver_line(context, index, lines)
        if waiver.expires < context.today:
            kept.append(
                Violation(
                    "GOV900", Severity.ERROR, f"{waiver.rule}:{waiver.target}",
                    f"waiver of {waiver.rule} for '{waiver.target}' expired on "
                    f"{waiver.expires.isoformat()} (reason was: {waiver.reason})",
                    "fix the underlying violation and delete the waiver, or agree a new expiry "
                    "date with the platform team",
                    waivers_file, line, subject=waiver.expires.isoformat(),
                )
            )  # fmt: skip
        elif index not in used:
            kept.append(
                Violation(
                    "GOV901", Severity.WARNING, f"{waiver.rule}:{waiver.target}",
                    f"waiver of {waiver.rule} for '{waiver.target}' matches no violation",
                    "delete the waiver: what it excused is fixed", waivers_file, line,
                )
            )  # fmt: skip
    return kept, waived


def _waiver_line(context: GateContext, index: int, lines: list[int]) -> int:
    return lines[index] if index < len(lines) else 0


def read_baseline(path: Path) -> set[str]:
    data = json.loads(path.read_text())
    return {entry["fingerprint"] for entry in data.get("violations", [])}


def write_baseline(path: Path, violations: list[Violation]) -> None:
    entries = [
        {"fingerprint": v.fingerprint, "rule": v.rule, "target": v.target} for v in violations
    ]
    path.write_text(json.dumps({"violations": entries}, indent=2, sort_keys=True) + "\n")


def split_baseline(
    violations: list[Violation], known: set[str]
) -> tuple[list[Violation], list[Violation]]:
    """(new, already known): baseline mode fails only on violations a change introduces."""
    new = [v for v in violations if v.fingerprint not in known]
    old = [v for v in violations if v.fingerprint in known]
    return new, old


def run_gate(
    root: Path,
    graph: MeshGraph,
    config: GovernanceConfig,
    *,
    today: date | None = None,
    baseline: set[str] | None = None,
    load_seconds: float = 0.0,
    extra: Iterable[Violation] = (),
    cached: Iterable[str] = (),
) -> GateResult:
    """Every rule, plus `extra` violations found outside the graph (breaking changes against
    a base ref), through the same waivers and baseline."""
    started = time.perf_counter()
    context = GateContext(root, graph, config, today or date.today())
    found = sorted([*evaluate(context), *extra], key=lambda v: (v.rule, v.target, v.message))
    kept, waived = apply_waivers(context, found)
    baselined: list[Violation] = []
    if baseline is not None:
        kept, baselined = split_baseline(kept, baseline)
    return GateResult(
        kept, waived, baselined, load_seconds=load_seconds,
        rules_seconds=time.perf_counter() - started, examined=graph.examined(),
        cached=list(cached),
    )  # fmt: skip


def violation_dict(violation: Violation) -> dict[str, object]:
    return asdict(violation)
