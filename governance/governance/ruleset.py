"""What a rule is made of: severities, violations, the context it reads, and the registry.

Rule modules (governance.rules) import this; the engine imports both, so nothing loops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from governance.config import GovernanceConfig
from governance.model import MeshGraph


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass
class Violation:
    rule: str  # stable id, e.g. GOV001
    severity: Severity
    target: str  # the asset key or repo-relative file the violation is about
    message: str  # one line naming the asset/file and what is wrong
    fix: str
    file: str = ""  # repo-relative file to annotate
    line: int = 0
    waived_by: str = ""  # the waiver's reason when waived
    # What is wrong within the target (a dependency, an imported module, a column...): with
    # rule and target, it names the violation without line numbers or wording.
    subject: str = ""
    related: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, what)

    @property
    def fingerprint(self) -> str:
        """Stable across line shifts and rewording: what a baseline and SARIF remember."""
        return f"{self.rule}|{self.target}|{self.subject}"


@dataclass
class GateContext:
    root: Path
    graph: MeshGraph
    config: GovernanceConfig
    today: date = field(default_factory=date.today)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    check: Callable[[GateContext], Iterable[Violation]]


RULES: dict[str, Rule] = {}


def _found_elsewhere(context: GateContext) -> Iterable[Violation]:
    return ()  # these rules' violations come from run_gate (waivers) or --base (breaking)


for _id, _name, _severity, _summary in (
    ("GOV100", "changes/breaking", Severity.ERROR,
     "(with --base) public products keep their contract unless a new version is declared"),
    ("GOV900", "waivers/expired", Severity.ERROR, "waivers expire"),
    ("GOV901", "waivers/unused", Severity.WARNING, "a waiver matches a violation"),
):  # fmt: skip
    RULES[_id] = Rule(_id, _name, _severity, _summary, _found_elsewhere)


def rule(id: str, name: str, severity: Severity, summary: str):
    """Register a rule function under a stable id (ids are never reused or renumbered)."""

    def register(function: Callable[[GateContext], Iterable[Violation]]):
        RULES[id] = Rule(id, name, severity, summary, function)
        return function

    return register
