"""governance/ YAML: the domain registry, the policy (thresholds, severities) and waivers.

Each file is validated on load; a mistake names the file, the entry and the fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TypeVar

import yaml
from platform_core.errors import ConfigurationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

GOVERNANCE_DIR = "governance"
REGISTRY_FILE = "domains.yaml"
POLICY_FILE = "policy.yaml"
WAIVERS_FILE = "waivers.yaml"


T = TypeVar("T", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainEntry(_Strict):
    owners: list[str] = Field(min_length=1)  # Dagster owners: team:<name> or e-mail
    contact: str  # where to reach the team (Slack channel, e-mail list)
    path: str  # the code location's project folder, e.g. domains/sales
    codeowners: list[str] = Field(min_length=1)  # GitHub handles/teams for CODEOWNERS
    # Other folders the domain owns and may declare its assets in (e.g. its dbt models).
    extra_paths: list[str] = []

    def folders(self) -> list[str]:
        return [self.path, *self.extra_paths]


class PlatformEntry(_Strict):
    codeowners: list[str] = Field(min_length=1)
    paths: list[str] = []  # repo paths the platform team owns (platform_core/, governance/...)


class Registry(_Strict):
    platform: PlatformEntry
    domains: dict[str, DomainEntry]


class Thresholds(_Strict):
    min_blocking_checks_public: int = 1
    deprecation_warn_days: int = 90  # consumers are warned this long before the date
    max_fail_after_hours_public: int | None = None


class SecretsPolicy(_Strict):
    skip_dirs: list[str] = [".git", ".venv", ".mesh", "node_modules", "target", "dbt_packages"]
    placeholders: list[str] = [
        "not-a-secret", "example", "dummy", "placeholder", "changeme-in", "unused",
    ]  # fmt: skip


class Policy(_Strict):
    thresholds: Thresholds = Thresholds()
    severity: dict[str, str] = {}  # rule id -> error|warning|off
    external_sources: list[str] = []  # keys no location produces but that exist outside
    secrets: SecretsPolicy = SecretsPolicy()


class Waiver(_Strict):
    rule: str
    target: str  # asset key ("sales/orders") or a repo-relative file path
    reason: str = Field(min_length=10)
    expires: date


class Waivers(_Strict):
    waivers: list[Waiver] = []


def _load(path: Path, model: type[T], required: bool) -> T:
    if not path.is_file():
        if required:
            raise ConfigurationError(
                f"{path} is missing. Fix: create it (see governance/README.md), or run "
                "`meshctl new-domain` which keeps it up to date."
            )
        return model()
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
        raw = yaml.load(path.read_text(), Loader=loader) or {}
        return model.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML ({exc}). Fix the syntax.") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(
            f"{path}: field '{where}': {first['msg']}. Fix: correct it as described."
        ) from None


class GovernanceConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    root: Path
    registry: Registry
    policy: Policy
    waivers: Waivers

    @property
    def directory(self) -> Path:
        return self.root / GOVERNANCE_DIR

    def domain_of_location(self, location: str) -> DomainEntry | None:
        return self.registry.domains.get(location)


def load_config(root: Path) -> GovernanceConfig:
    directory = root / GOVERNANCE_DIR
    return GovernanceConfig(
        root=root,
        registry=_load(directory / REGISTRY_FILE, Registry, required=True),
        policy=_load(directory / POLICY_FILE, Policy, required=False),
        waivers=_load(directory / WAIVERS_FILE, Waivers, required=False),
    )
