"""What a domain declares about its data products: the schema of the `DataProducts` component.

A domain declares its products in a `defs.yaml` of its `defs/` folder (see
platform_core.declarations); `ProductSpec` is one entry as written, `ProductDeclaration` the
same entry once its domain and file are known. The declaration is the product's public
interface: other domains and the governance gate read it without importing the domain's code.
Invalid declarations fail to load with an error that names the file and line, the product, the
field and the fix.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from platform_core.declaration_yaml import declaration_documents, node_line
from platform_core.declarations import DATA_PRODUCTS_TYPE
from platform_core.errors import ProductDeclarationError
from platform_core.identifiers import IDENTIFIER
from platform_core.warehouse.types import LOGICAL_TYPES

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_OWNER = re.compile(r"^(team:[a-z][a-z0-9_\-]*|[^@\s]+@[^@\s]+\.[a-z]{2,})$")
DEFAULT_MIN_ROW_COUNT_RATIO = 0.8
DEFAULT_FAIL_AFTER = "24h"
DEFAULT_EXPECTED_RUNTIME = "30m"
DEFAULT_MAX_RUNTIME = "2h"


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '24h', '7d' -> timedelta."""
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration; write it like 30m, 24h or 7d")
    amount, unit = match.groups()
    return timedelta(**{_DURATION_UNITS[unit]: int(amount)})


def _is_cron(value: str) -> bool:
    """What Dagster's schedules accept: five fields (no seconds), a day that exists."""
    from croniter import croniter

    if not croniter.is_valid(value):
        return False
    fields = croniter.expand(value)[0]
    never = fields[3] == [2] and len(fields[2]) == 1 and fields[2][0] in {30, 31}  # Feb 30/31
    return len(fields) == 5 and not never


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


class Automation(StrEnum):
    EAGER = "eager"  # run when an input updates (the default for products with inputs)
    ON_CRON = "on_cron"  # run on `cron` once inputs have updated since the last tick
    MANUAL = "manual"  # only when someone (or meshctl materialize) asks


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnContract(_Strict):
    name: str
    type: str
    description: str = ""
    not_null: bool = False
    # Largest share of NULLs the column may hold (0.0-1.0); checked by `null_fraction`.
    max_null_fraction: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(f"column {value!r} must be a lower-case identifier ([a-z][a-z0-9_]*)")
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in LOGICAL_TYPES:
            raise ValueError(f"type {value!r} is not one of {', '.join(LOGICAL_TYPES)}")
        return value


class Sla(_Strict):
    fail_after: str = DEFAULT_FAIL_AFTER
    warn_after: str | None = None
    # Duration SLA of one materialization: over `expected_runtime` raises a long-running
    # alert; at `max_runtime` run monitoring stops the run (dagster/max_runtime).
    expected_runtime: str = DEFAULT_EXPECTED_RUNTIME
    max_runtime: str = DEFAULT_MAX_RUNTIME

    @field_validator("fail_after", "warn_after", "expected_runtime", "max_runtime")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def freshness_policy(self) -> dg.FreshnessPolicy:
        fail = parse_duration(self.fail_after)
        warn = parse_duration(self.warn_after) if self.warn_after else None
        if fail < timedelta(minutes=1):
            raise ValueError("fail_after must be at least 1m (Dagster's smallest freshness window)")
        if warn is not None and warn >= fail:
            raise ValueError("warn_after must be shorter than fail_after")
        return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)

    @property
    def expected_runtime_seconds(self) -> int:
        return int(parse_duration(self.expected_runtime).total_seconds())

    @property
    def max_runtime_seconds(self) -> int:
        return int(parse_duration(self.max_runtime).total_seconds())

    def check_runtimes(self) -> None:
        if self.expected_runtime_seconds >= self.max_runtime_seconds:
            raise ValueError("expected_runtime must be shorter than max_runtime")


class CheckSettings(_Strict):
    min_row_count_ratio: float = Field(default=DEFAULT_MIN_ROW_COUNT_RATIO, ge=0.0, le=1.0)


class ProductSpec(_Strict):
    """One product as written in the `products:` list of a DataProducts component."""

    name: str
    description: str
    owners: list[str] = Field(min_length=1)
    visibility: Visibility
    tier: Literal[1, 2, 3] = 2
    sla: Sla = Sla()
    inputs: list[str] = []
    # Raw, non-product assets read (asset keys "prefix/name", e.g. tenant_sync/orders): the
    # ingestion products of the platform domain read synced source tables this way.
    sources: list[str] = []
    automation: Automation | None = None
    cron: str | None = None
    columns: list[ColumnContract] = Field(min_length=1)
    checks: CheckSettings = CheckSettings()
    # Raise `version` when the public interface changes incompatibly (the governance gate
    # treats a removed or retyped column without a new version as a breaking change).
    version: int = Field(default=1, ge=1)
    # From this date consumers fail the governance gate (before it they are warned).
    deprecation_date: date | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(f"{value!r} must be a lower-case identifier ([a-z][a-z0-9_]*)")
        return value

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if not all(IDENTIFIER.match(p) for p in s.split("/"))]
        if bad:
            raise ValueError(f"{bad} are not asset keys; write them as 'prefix/name'")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say what one row is and who it is for")
        return value.strip()

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        bad = [owner for owner in value if not _OWNER.match(owner)]
        if bad:
            raise ValueError(f"{bad} are not owners; use 'team:<name>' or an e-mail address")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not _is_cron(value):
            raise ValueError(f"{value!r} is not a cron expression (e.g. '0 3 * * *')")
        return value

    @property
    def is_public(self) -> bool:
        return self.visibility is Visibility.PUBLIC

    @property
    def effective_automation(self) -> Automation:
        if self.automation is not None:
            return self.automation
        if self.cron:
            return Automation.ON_CRON
        return Automation.EAGER if self.inputs else Automation.MANUAL

    def column_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=column.name,
                    type=column.type,
                    description=column.description or None,
                    constraints=dg.TableColumnConstraints(nullable=not column.not_null),
                )
                for column in self.columns
            ]
        )


class ProductDeclaration(ProductSpec):
    """A declared product: its entry plus the domain and file it was declared in."""

    domain: str = ""
    source_file: str = ""  # path of the declaring file (":line" is not part of it)
    source_line: int = 0

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey([self.domain, self.name])

    @property
    def ref(self) -> str:
        return f"{self.domain}/{self.name}"

    @property
    def where(self) -> str:
        """`file:line` of the declaration, for error messages."""
        return f"{self.source_file}:{self.source_line}" if self.source_line else self.source_file


class DomainProductsSpec(_Strict):
    """The attributes of a DataProducts component: the domain and its products."""

    domain: str
    products: list[ProductSpec] = Field(min_length=1)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(f"{value!r} must be a lower-case identifier ([a-z][a-z0-9_]*)")
        return value


class DomainProducts(_Strict):
    domain: str
    products: list[ProductDeclaration] = Field(min_length=1)


def _field_path(loc: tuple[Any, ...], raw: dict[str, Any]) -> tuple[str, str]:
    """Turn a pydantic error location into ("product 'x'", "field.path")."""
    if len(loc) >= 2 and loc[0] == "products" and isinstance(loc[1], int):
        products = raw.get("products") or []
        entry = products[loc[1]] if loc[1] < len(products) else {}
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"product '{name}'" if name else f"product #{loc[1] + 1}"
        return where, ".".join(str(part) for part in loc[2:]) or "(entry)"
    return "file", ".".join(str(part) for part in loc) or "(file)"


_FIXES = {
    "missing": "add the field",
    "extra_forbidden": "remove it, or check its spelling against the product schema",
    "too_short": "give at least one entry",
}


def _read_spec(path: Path) -> DomainProductsSpec:
    """Parse and validate the DataProducts attributes of `path`, or raise naming file:line."""
    try:
        documents = declaration_documents(path.read_text())
    except yaml.YAMLError as exc:
        raise ProductDeclarationError(
            str(path), f"is not valid YAML ({exc})", "fix the syntax"
        ) from None
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ProductDeclarationError(
            str(path),
            f"must hold one `type: {DATA_PRODUCTS_TYPE}` document whose attributes are a "
            "mapping with 'domain' and 'products'",
            "see the README example (dg check yaml shows the schema)",
        )
    raw = documents[0]
    try:
        return DomainProductsSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where, field = _field_path(loc, raw)
        message = first["msg"].removeprefix("Value error, ")
        raise ProductDeclarationError(
            f"{path}:{node_line(path, loc)}: {where}, field '{field}'",
            message,
            _FIXES.get(first["type"], "correct the value as described"),
        ) from None


def declared_products(spec: DomainProductsSpec, path: Path) -> DomainProducts:
    """The rules one entry's schema cannot express (unique names, cron, SLA windows), and the
    products with their domain, file and line."""
    seen: set[str] = set()
    products = []
    for index, product in enumerate(spec.products):
        at = f"{path}:{node_line(path, ('products', index))}: product '{product.name}'"
        if product.name in seen:
            raise ProductDeclarationError(
                at, "is declared twice", "keep one declaration per product"
            )
        seen.add(product.name)
        if product.effective_automation is Automation.ON_CRON and not product.cron:
            raise ProductDeclarationError(
                f"{at}, field 'cron'",
                "automation is on_cron but no cron is given",
                "add cron: '<expression>' or choose another automation",
            )
        try:
            product.sla.freshness_policy()
            product.sla.check_runtimes()
        except ValueError as exc:
            raise ProductDeclarationError(
                f"{path}:{node_line(path, ('products', index, 'sla'))}: product "
                f"'{product.name}', field 'sla'",
                str(exc),
                "adjust the windows",
            ) from None
        products.append(
            ProductDeclaration(
                **product.model_dump(),
                domain=spec.domain,
                source_file=str(path),
                source_line=node_line(path, ("products", index)),
            )
        )
    return DomainProducts(domain=spec.domain, products=products)


def load_domain_products(path: Path) -> DomainProducts:
    """Read and validate one DataProducts declaration file (a `defs.yaml`)."""
    return declared_products(_read_spec(path), path)
