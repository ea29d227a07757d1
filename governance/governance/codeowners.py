"""`.github/CODEOWNERS`, generated from the domain registry (never edited by hand)."""

from __future__ import annotations

from pathlib import Path

from governance.config import Registry

CODEOWNERS_PATH = Path(".github") / "CODEOWNERS"
HEADER = (
    "# Generated from governance/domains.yaml by `meshctl codeowners --write`. Do not edit:\n"
    "# change the registry and regenerate (the governance gate fails when this file is stale).\n"
)


def render_codeowners(registry: Registry) -> str:
    platform = " ".join(registry.platform.codeowners)
    lines = [HEADER, f"* {platform}"]
    for path in registry.platform.paths:
        lines.append(f"/{path.strip('/')}/ {platform}")
    for name in sorted(registry.domains):
        entry = registry.domains[name]
        for folder in entry.folders():
            lines.append(f"/{folder.strip('/')}/ {' '.join(entry.codeowners)}")
    return "\n".join(lines) + "\n"


def write_codeowners(root: Path, registry: Registry) -> Path:
    target = root / CODEOWNERS_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_codeowners(registry))
    return target
