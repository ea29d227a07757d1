"""The tenant registry: which tenants exist, where their databases are, when and how they sync.

Two sources, one schema (`TenantEntry`):

- `tenants.yaml` (the default; reviewed in pull requests), read on every sensor tick;
- a `tenant_registry` table in a PostgreSQL database (production's source of truth: adding a
  row onboards a tenant with no deploy), used when `MESH_TENANT_REGISTRY_URL` is set.

Policy for bad entries: **skip loudly, never refuse the whole registry.** One tenant's typo must
not stop every other tenant's daily sync. Each bad entry is dropped with a `RegistryProblem`
naming the file, the tenant, the field and the fix; the sensor logs every problem and alerts the
platform team, and `meshctl tenants check` exits non-zero on any. Problems that make the file
itself unreadable (bad YAML, wrong top-level shape, unknown top-level keys) do refuse the file:
then nothing in it can be trusted. Duplicate ids skip *every* entry with that id: we cannot
tell which connection is the tenant's, and copying the wrong database into a tenant's schema
would leak data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from platform_core.errors import ConfigurationError, scrub
from platform_core.identifiers import IDENTIFIER
from platform_core.products.declaration import parse_duration

REGISTRY_URL_VAR = "MESH_TENANT_REGISTRY_URL"
_ENV_VAR_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_OWNER = re.compile(r"team:[a-z][a-z0-9_\-]*|[^@\s]+@[^@\s]+\.[a-z]{2,}")


def source_env_name(tenant_id: str) -> str:
    """The one variable a tenant's database URL may come from: TENANT_<ID>_DB_URL. A fixed name
    per tenant means no entry can point at another tenant's database or at any other secret
    (a Snowflake password, say), whose value a driver error would then repeat."""
    return f"TENANT_{tenant_id.upper()}_DB_URL"


class IsolationMode(StrEnum):
    SCHEMA = "schema"  # own warehouse schema; in Snowflake also its own role (the default)
    DEDICATED_LOCATION = "dedicated_location"  # synced by its own code location (custom logic)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantSla(_Strict):
    max_runtime: str = "30m"  # becomes the run's dagster/max_runtime
    freshness: str = "26h"  # the synced copy is stale after this long

    @field_validator("max_runtime", "freshness")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def max_runtime_seconds(self) -> int:
        return int(parse_duration(self.max_runtime).total_seconds())

    @property
    def freshness_delta(self) -> timedelta:
        return parse_duration(self.freshness)


class TenantEntry(_Strict):
    """One tenant as written in tenants.yaml (or one tenant_registry row)."""

    id: str = Field(description="Reaches SQL as schema tenant_<id>: [a-z][a-z0-9_]*.")
    name: str = Field(min_length=1)
    source_env: str = Field(
        description="NAME of the variable (or secret) holding the database URL: "
        "TENANT_<ID>_DB_URL.",
    )
    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    enabled: bool = True
    owners: list[str] = Field(min_length=1)
    sla: TenantSla = TenantSla()
    monthly_budget_usd: float = Field(default=100.0, ge=0)
    isolation: IsolationMode = IsolationMode.SCHEMA

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not IDENTIFIER.fullmatch(value) or len(value) > 40:
            raise ValueError(
                f"{value!r} is not a tenant id: ids reach SQL, so only lower-case letters, digits "
                "and underscores, starting with a letter, at most 40 characters"
            )
        return value

    @field_validator("source_env")
    @classmethod
    def _source_env(cls, value: str, info: ValidationInfo) -> str:
        if not _ENV_VAR_NAME.fullmatch(value):
            raise ValueError(
                "is not the name of an environment variable; give the NAME of a variable "
                "(TENANT_<ID>_DB_URL), never the URL or a password"
            )
        tenant_id = info.data.get("id")  # validated before source_env (declared first)
        if tenant_id is not None and value != source_env_name(tenant_id):
            raise ValueError(
                f"{value} is not this tenant's variable: a tenant's database URL comes only "
                f"from {source_env_name(tenant_id)}, so no entry can name another tenant's "
                "database or any other secret"
            )
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a 5-field cron expression (e.g. '0 3 * * *')")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Berlin')") from None
        return value

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        bad = [o for o in value if not _OWNER.fullmatch(o)]
        if bad:
            raise ValueError(f"owners {bad} must be 'team:<name>' or an e-mail address")
        return value

    @property
    def schema(self) -> str:
        """The tenant's warehouse schema; nothing else of this tenant's is written anywhere."""
        return f"tenant_{self.id}"


@dataclass(frozen=True)
class RegistryProblem:
    """A skipped entry: where, which tenant, which field, what is wrong, how to fix it."""

    source: str
    tenant: str
    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return (
            f"{self.source}: tenant '{self.tenant}', field '{self.field}': {self.problem}\n"
            f"  Fix: {self.fix}"
        )


@dataclass(frozen=True)
class Registry:
    """The valid tenants (enabled or not) and the entries that were skipped, with reasons."""

    source: str
    tenants: tuple[TenantEntry, ...]
    problems: tuple[RegistryProblem, ...] = field(default_factory=tuple)

    @property
    def active(self) -> tuple[TenantEntry, ...]:
        return tuple(t for t in self.tenants if t.enabled)

    def get(self, tenant_id: str) -> TenantEntry:
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        skipped = [p for p in self.problems if p.tenant == tenant_id]
        reason = f" It was skipped: {skipped[0]}" if skipped else ""
        raise ConfigurationError(
            f"Tenant '{tenant_id}' is not in the registry ({self.source}).{reason}"
        )


_FIXES = {
    "missing": "add the field",
    "extra_forbidden": "remove it, or check its spelling (fields: "
    + ", ".join(TenantEntry.model_fields)
    + ")",
}


def _entry_problems(source: str, index: int, raw: Any) -> tuple[TenantEntry | None, list]:
    label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    tenant = label or f"#{index + 1}"
    if not isinstance(raw, dict):
        return None, [
            RegistryProblem(source, tenant, "(entry)", "is not a mapping", "write id: ..., ...")
        ]
    try:
        return TenantEntry.model_validate(raw), []
    except ValidationError as exc:
        return None, [
            RegistryProblem(
                source,
                tenant,
                ".".join(str(p) for p in error["loc"]) or "(entry)",
                error["msg"].removeprefix("Value error, "),
                _FIXES.get(error["type"], "correct the value as described"),
            )
            for error in exc.errors()
        ]


def validate_entries(
    source: str, raw_entries: Sequence[Any], environ: Mapping[str, str] | None = None
) -> Registry:
    """Validate entries one by one; bad ones become problems, good ones tenants."""
    environ = os.environ if environ is None else environ
    valid: list[TenantEntry] = []
    problems = _duplicates(source, raw_entries)
    duplicated = {p.tenant for p in problems}
    for index, raw in enumerate(raw_entries):
        if _raw_key(raw, "id") in duplicated:
            continue  # every entry with a duplicated id is skipped, valid or not
        entry, entry_problems = _entry_problems(source, index, raw)
        problems.extend(entry_problems)
        if entry is None:
            continue
        if entry.enabled and not environ.get(entry.source_env):
            problems.append(
                RegistryProblem(
                    source,
                    entry.id,
                    "source_env",
                    f"environment variable {entry.source_env} is not set",
                    f"set {entry.source_env} to the tenant database URL in the deployment's "
                    "environment (or secrets), or set enabled: false",
                )
            )
            continue
        valid.append(entry)
    return Registry(source, tuple(valid), tuple(problems))


def _raw_key(raw: Any, key: str) -> str | None:
    """An entry's raw value for `key`, normalised (stripped, lower-case) for duplicate checks:
    'acme' and 'acme\n' or 'ACME' are the same tenant to a person reading the file."""
    value = raw.get(key) if isinstance(raw, dict) else None
    return value.strip().lower() if isinstance(value, str) else None


def _duplicates(source: str, raw_entries: Sequence[Any]) -> list[RegistryProblem]:
    """Duplicated ids and shared source_env variables, found on the raw entries BEFORE
    validation: an invalid first entry must not let a second one with its id through."""
    problems = []
    for key, fix in (
        ("id", "keep exactly one entry per tenant id"),
        ("source_env", "give every tenant its own variable, TENANT_<ID>_DB_URL"),
    ):
        counts: dict[str, int] = {}
        owners: dict[str, list[str]] = {}
        for raw in raw_entries:
            value = _raw_key(raw, key)
            if value:
                counts[value] = counts.get(value, 0) + 1
                owners.setdefault(value, []).append(_raw_key(raw, "id") or "?")
        for value in sorted(v for v, n in counts.items() if n > 1):
            for tenant in sorted(set(owners[value])) if key == "source_env" else [value]:
                problems.append(
                    RegistryProblem(
                        source,
                        tenant,
                        key,
                        f"{value!r} appears {counts[value]} times; every entry with it was skipped",
                        fix,
                    )
                )
    return problems


def load_registry_file(path: Path, environ: Mapping[str, str] | None = None) -> Registry:
    """Read tenants.yaml. File-level problems refuse the file; entry problems skip the entry."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no tenant registry file. Fix: create it.") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: is not valid YAML ({exc}). Fix: the syntax.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tenants", []), list):
        raise ConfigurationError(
            f"{path}: must be a mapping with a 'tenants' list. Fix: see the file's header comment."
        )
    unknown = sorted(set(raw) - {"tenants"})
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown top-level keys {unknown}. Fix: only 'tenants' is allowed."
        )
    return validate_entries(str(path), raw.get("tenants") or [], environ)


# The production registry table. One row per tenant; the same fields as tenants.yaml.
REGISTRY_TABLE_DDL = """
create table if not exists tenant_registry (
    tenant_id text primary key,
    name text not null,
    source_env text not null,
    cron text not null default '0 3 * * *',
    timezone text not null default 'UTC',
    is_active boolean not null default true,
    owners text not null,
    max_runtime text not null default '30m',
    freshness text not null default '26h',
    monthly_budget_usd double precision not null default 100,
    isolation text not null default 'schema'
)
"""
_REGISTRY_SELECT = (
    "select tenant_id, name, source_env, cron, timezone, is_active, owners, max_runtime, "
    "freshness, monthly_budget_usd, isolation from tenant_registry "
    "order by tenant_id"
)


def _row_to_entry(row: Sequence[Any]) -> dict[str, Any]:
    (tid, name, source_env, cron, tz, active, owners, max_rt, fresh, budget, iso) = row
    return {
        "id": tid,
        "name": name,
        "source_env": source_env,
        "cron": cron,
        "timezone": tz,
        "enabled": bool(active),
        "owners": [o.strip() for o in str(owners).split(",") if o.strip()],
        "sla": {"max_runtime": max_rt, "freshness": fresh},
        "monthly_budget_usd": budget,
        "isolation": iso,
    }


def load_registry_table(url: str, environ: Mapping[str, str] | None = None) -> Registry:
    """Read the `tenant_registry` table (is_active is `enabled`) with the same validation."""
    import adbc_driver_postgresql.dbapi as adbc

    try:
        with adbc.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute(_REGISTRY_SELECT)
            rows = cursor.fetchall()
    except Exception as exc:  # the driver's message may repeat the URL and its password
        raise ConfigurationError(
            f"{REGISTRY_URL_VAR}: the tenant registry table cannot be read "
            f"({scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, url)}). "
            f"Fix: check the database in {REGISTRY_URL_VAR} and that tenant_registry exists."
        ) from None
    source = "postgres table tenant_registry"
    return validate_entries(source, [_row_to_entry(r) for r in rows], environ)


def load_registry(default_file: Path, environ: Mapping[str, str] | None = None) -> Registry:
    """The registry in force: the PostgreSQL table when MESH_TENANT_REGISTRY_URL is set."""
    environ = os.environ if environ is None else environ
    url = environ.get(REGISTRY_URL_VAR)
    if url:
        return load_registry_table(url, environ)
    return load_registry_file(default_file, environ)


REGISTRY_FILE_VAR = "MESH_TENANT_REGISTRY_FILE"
REGISTRY_HOME = Path("domains") / "tenant_sync" / "mesh_tenant_sync" / "tenants.yaml"


def registry_path(
    default: Path | None = None,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """tenants.yaml in force: $MESH_TENANT_REGISTRY_FILE, else `default` (the tenant_sync
    location passes its own file, which ships in its image), else the file in the repository
    found from `root` or the working directory."""
    environ = os.environ if environ is None else environ
    if environ.get(REGISTRY_FILE_VAR):
        return Path(environ[REGISTRY_FILE_VAR])
    if default is not None:
        return default
    if root is None:
        from platform_core.workspace import find_mesh_root

        root = find_mesh_root()
    return root / REGISTRY_HOME
