"""Gate results for people (terminal), machines (JSON, SARIF, JUnit XML)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from xml.etree import ElementTree as ET

from governance.engine import RULES, GateResult, Severity, Violation, violation_dict

_COLOURS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m"}
_RESET, _DIM, _BOLD = "\033[0m", "\033[2m", "\033[1m"


def _use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def render_terminal(result: GateResult, colour: bool | None = None) -> str:
    colour = _use_colour() if colour is None else colour

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    lines = []
    for v in result.violations:
        place = f"{v.file}:{v.line}" if v.file and v.line else v.file
        label = paint(f"{v.severity.value.upper():7}", _COLOURS[v.severity])
        lines.append(f"{label} {paint(v.rule, _BOLD)} {v.message}")
        lines.append(paint(f"        fix: {v.fix}" + (f"   [{place}]" if place else ""), _DIM))
    lines.append(examined_line(result))
    summary = (
        f"governance gate: {len(result.errors)} error(s), {len(result.warnings)} warning(s), "
        f"{len(result.waived)} waived, {len(result.baselined)} in baseline  "
        f"(load {result.load_seconds:.2f} s"
        + (f", {len(result.cached)} location(s) from cache" if result.cached else "")
        + f", rules {result.rules_seconds:.2f} s)"
    )
    verdict = paint("PASSED", "\033[32m") if result.passed else paint("FAILED", "\033[31m")
    lines.append(f"{summary}  {verdict}")
    return "\n".join(lines)


def examined_line(result: GateResult) -> str:
    seen = result.examined
    return "examined: " + ", ".join(
        f"{seen.get(what, 0)} {what}"
        for what in ("locations", "assets", "checks", "jobs", "schedules", "sensors")
    )


def render_json(result: GateResult) -> str:
    return json.dumps(
        {
            "passed": result.passed,
            "violations": [violation_dict(v) for v in result.violations],
            "waived": [violation_dict(v) for v in result.waived],
            "baselined": [violation_dict(v) for v in result.baselined],
            "examined": result.examined,
            "timings": {
                "load_seconds": result.load_seconds,
                "rules_seconds": result.rules_seconds,
                "cached_locations": result.cached,
            },
        },
        indent=2,
        default=str,
    )


def _physical(file: str, line: int) -> dict[str, object]:
    location: dict[str, object] = {
        "artifactLocation": {"uri": file or "workspace.yaml", "uriBaseId": "SRCROOT"}
    }
    if line > 0:
        location["region"] = {"startLine": line}
    return location


def _sarif_result(v: Violation, index: dict[str, int]) -> dict[str, object]:
    result: dict[str, object] = {
        "ruleId": v.rule,
        "level": "error" if v.severity is Severity.ERROR else "warning",
        "message": {"text": f"{v.message}. Fix: {v.fix}"},
        "locations": [{"physicalLocation": _physical(v.file, v.line)}],
        # rule + target + subject: no line number and no wording, so an alert keeps its
        # identity when lines above it move or a message is improved.
        "partialFingerprints": {
            "governance/v2": hashlib.sha256(v.fingerprint.encode()).hexdigest()
        },
    }
    if v.rule in index:
        result["ruleIndex"] = index[v.rule]
    if v.related:
        result["relatedLocations"] = [
            {"id": n, "physicalLocation": _physical(file, line), "message": {"text": what}}
            for n, (file, line, what) in enumerate(v.related, start=1)
        ]
    return result


def tool_version() -> str:
    try:
        return metadata.version("mesh-governance")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def render_sarif(result: GateResult) -> str:
    """SARIF 2.1.0, as GitHub code scanning reads it (annotations on file and line)."""
    import governance.rules  # noqa: F401  (every rule that can fire is in rules[])

    ordered = sorted(RULES.values(), key=lambda r: r.id)
    index = {r.id: n for n, r in enumerate(ordered)}
    rules = [
        {
            "id": r.id,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "defaultConfiguration": {
                "level": "error" if r.severity is Severity.ERROR else "warning"
            },
        }
        for r in ordered
    ]
    version = tool_version()
    return json.dumps(
        {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "mesh-governance",
                            "version": version,
                            "semanticVersion": version,
                            "rules": rules,
                        }
                    },
                    "originalUriBaseIds": {"SRCROOT": {"description": {"text": "the mesh root"}}},
                    "results": [_sarif_result(v, index) for v in result.violations],
                }
            ],
        },
        indent=2,
    )


def render_junit(result: GateResult) -> str:
    """One test case per rule; a failure per error (warnings are system-out)."""
    suite = ET.Element(
        "testsuite",
        name="governance",
        tests=str(len(RULES)),
        failures=str(len({v.rule for v in result.errors})),
        time=f"{result.load_seconds + result.rules_seconds:.3f}",
    )
    by_rule: dict[str, list[Violation]] = {}
    for v in result.violations:
        by_rule.setdefault(v.rule, []).append(v)
    for rule_id in sorted(set(RULES) | set(by_rule)):
        name = RULES[rule_id].name if rule_id in RULES else rule_id
        case = ET.SubElement(suite, "testcase", classname="governance", name=f"{rule_id} {name}")
        found = by_rule.get(rule_id, [])
        errors = [v for v in found if v.severity is Severity.ERROR]
        if errors:
            failure = ET.SubElement(case, "failure", message=f"{len(errors)} violation(s)")
            failure.text = "\n".join(f"{v.message}\n  fix: {v.fix}" for v in errors)
        warnings = [v for v in found if v.severity is Severity.WARNING]
        if warnings:
            ET.SubElement(case, "system-out").text = "\n".join(v.message for v in warnings)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


RENDERERS = {
    "terminal": render_terminal,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
}
