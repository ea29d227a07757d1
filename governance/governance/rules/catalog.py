"""Ownership, documentation, placement and contract rules: what every asset must carry."""

from __future__ import annotations

from collections.abc import Iterator

from governance.model import AssetRecord
from governance.rules._where import declared_in, under, where
from governance.ruleset import GateContext, Severity, Violation, rule


def _own_assets(context: GateContext) -> Iterator[AssetRecord]:
    """Every asset a location defines: those it runs and the external ones (AssetSpecs) it
    observes; an external asset is a promise about data as much as a materialized one."""
    yield from context.graph.all_records()


def _violation(context, rule_id, severity, asset, message, fix, subject="") -> Violation:
    file, line = where(context, asset)
    return Violation(rule_id, severity, asset.key, message, fix, file, line, subject=subject)


@rule("GOV001", "ownership/has-owners", Severity.ERROR, "every asset has owners")
def has_owners(context: GateContext) -> Iterator[Violation]:
    for asset in _own_assets(context):
        if not asset.owners:
            team = context.config.domain_of_location(asset.location)
            example = team.owners[0] if team else "team:<name>"
            yield _violation(
                context, "GOV001", Severity.ERROR, asset,
                f"asset '{asset.key}' ({declared_in(asset)}) has no owners",
                f"add owners=['{example}'] to its definition (or owners: in its defs.yaml declaration)",
            )  # fmt: skip


@rule("GOV002", "ownership/registered-owners", Severity.ERROR, "owners belong to the domain")
def registered_owners(context: GateContext) -> Iterator[Violation]:
    registry = context.config.registry.domains
    for asset in _own_assets(context):
        entry = registry.get(asset.location)
        if entry is None or not asset.owners:
            continue  # GOV070 reports an unregistered location; GOV001 a missing owner
        strangers = [o for o in asset.owners if o not in entry.owners]
        if strangers:
            yield _violation(
                context, "GOV002", Severity.ERROR, asset,
                f"asset '{asset.key}' has owners {strangers} who are not owners of domain "
                f"'{asset.location}' in governance/domains.yaml",
                f"use the domain's owners {entry.owners}, or add them to domains.yaml "
                f"(domains.{asset.location}.owners) with the domain team's agreement",
            )  # fmt: skip


@rule("GOV010", "documentation/description", Severity.ERROR, "every asset has a description")
def has_description(context: GateContext) -> Iterator[Violation]:
    for asset in _own_assets(context):
        if not asset.description.strip():
            yield _violation(
                context, "GOV010", Severity.ERROR, asset,
                f"asset '{asset.key}' ({declared_in(asset)}) has no description",
                "describe what one row is and who it is for (description= or a docstring)",
            )  # fmt: skip


@rule("GOV011", "documentation/public-columns", Severity.ERROR, "public columns documented")
def public_columns_documented(context: GateContext) -> Iterator[Violation]:
    for asset in _own_assets(context):
        if asset.is_public and asset.columns:
            bare = [c.name for c in asset.columns if not c.description.strip()]
            if bare:
                yield _violation(
                    context, "GOV011", Severity.ERROR, asset,
                    f"public product '{asset.key}' has undocumented columns {bare}",
                    "give every column of a public product a description",
                )  # fmt: skip


@rule("GOV020", "placement/domain-and-folder", Severity.ERROR, "asset lives in its domain")
def placement(context: GateContext) -> Iterator[Violation]:
    registry = context.config.registry.domains
    for asset in _own_assets(context):
        location = context.graph.locations.get(asset.location)
        if asset.domain != asset.location:
            yield _violation(
                context, "GOV020", Severity.ERROR, asset,
                f"asset '{asset.key}' is tagged domain '{asset.domain or '(none)'}' but is "
                f"defined in code location '{asset.location}'",
                f"tag it domain='{asset.location}' (build the location with location_definitions), "
                "or move it to the location of its domain", "domain-tag",
            )  # fmt: skip
            continue
        if not (location and location.path and asset.source_file):
            continue
        entry = registry.get(asset.location)
        folders = entry.folders() if entry else [location.path]
        if not any(under(asset.source_file, folder.strip("/")) for folder in folders):
            yield _violation(
                context, "GOV020", Severity.ERROR, asset,
                f"asset '{asset.key}' of domain '{asset.location}' is declared in "
                f"{asset.source_file}, outside the domain's folders {folders}",
                f"move its declaration into {location.path}/, or register the folder under "
                f"domains.{asset.location}.extra_paths in governance/domains.yaml", "folder",
            )  # fmt: skip


@rule("GOV030", "contracts/column-schema", Severity.ERROR, "public products have a contract")
def public_contract(context: GateContext) -> Iterator[Violation]:
    for asset in _own_assets(context):
        if asset.is_public and not asset.columns:
            yield _violation(
                context, "GOV030", Severity.ERROR, asset,
                f"public product '{asset.key}' has no column contract (dagster/column_schema)",
                "declare its columns (columns: in its defs.yaml, or a dbt contract), or make it "
                "internal",
            )  # fmt: skip


@rule("GOV031", "contracts/freshness", Severity.ERROR, "public products have a freshness policy")
def public_freshness(context: GateContext) -> Iterator[Violation]:
    for asset in _own_assets(context):
        if asset.is_public and not asset.freshness:
            yield _violation(
                context, "GOV031", Severity.ERROR, asset,
                f"public product '{asset.key}' has no freshness policy",
                "declare an sla (fail_after) in its defs.yaml, or freshness_policy= on the asset",
            )  # fmt: skip


@rule("GOV032", "contracts/blocking-check", Severity.ERROR, "public products have blocking checks")
def public_blocking_checks(context: GateContext) -> Iterator[Violation]:
    needed = context.config.policy.thresholds.min_blocking_checks_public
    for asset in _own_assets(context):
        if asset.is_public and len(asset.blocking_checks) < needed:
            yield _violation(
                context, "GOV032", Severity.ERROR, asset,
                f"public product '{asset.key}' has {len(asset.blocking_checks)} blocking "
                f"check(s); the policy asks for {needed}",
                "add an @asset_check(blocking=True) (declared products get the standard ones)",
            )  # fmt: skip
