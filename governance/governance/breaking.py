"""Breaking changes between a base tree and the working tree, judged on the products' ODCS
contracts (governance/contracts.py): what consumers see, not how it is implemented.

Breaking: a public product removed, or a column of its contract removed, retyped (another
logical type family) or made optional, unless a new major version is declared (defs.yaml
`version:`, dbt `versions` / `latest_version`). Removal after a passed deprecation date is
the plan, not a break. Read from declarations, so no code is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from governance.contracts import ProductContract, logical_type, product_contracts
from governance.ruleset import Severity, Violation

__all__ = ["breaking_between", "breaking_changes", "contract_differences", "logical_type"]


def _deprecation(contract: ProductContract) -> date | None:
    for prop in contract.document.customProperties or []:
        if prop.property == "deprecationDate" and prop.value:
            return date.fromisoformat(str(prop.value))
    return None


def contract_differences(old: ProductContract, new: ProductContract) -> list[str]:
    """What a consumer of `old` loses in `new` (empty: compatible)."""
    before, after = old.properties(), new.properties()
    found = []
    removed = sorted(set(before) - set(after))
    if removed:
        found.append(f"removed columns {removed}")
    retyped = sorted(
        f"{name}: {before[name].physicalType} -> {after[name].physicalType}"
        for name in set(before) & set(after)
        if logical_type(before[name].physicalType or "")
        != logical_type(after[name].physicalType or "")
    )
    if retyped:
        found.append(f"retyped {retyped}")
    loosened = sorted(
        name
        for name in set(before) & set(after)
        if before[name].required and not after[name].required
    )
    if loosened:
        found.append(f"columns no longer required (may be NULL now) {loosened}")
    return found


def breaking_changes(base: Path, head: Path, today: date | None = None) -> list[Violation]:
    return breaking_between(product_contracts(base), product_contracts(head), today)


def breaking_between(
    before: Mapping[str, ProductContract],
    after: Mapping[str, ProductContract],
    today: date | None = None,
) -> list[Violation]:
    """Breaking changes from the contracts `before` (the base's) to `after` (the head's)."""
    today = today or date.today()
    found = []
    for ref, old in sorted(before.items()):
        new = after.get(ref)
        if new is None:
            deprecation = _deprecation(old)
            if deprecation and deprecation <= today:
                continue  # announced and past its date: removal is the plan
            found.append(
                Violation(
                    "GOV100", Severity.ERROR, ref,
                    f"public product '{ref}' was removed (its contract was in {old.file})",
                    "keep it, or deprecate it first (deprecation_date:) so consumers move off "
                    "it, and remove it after that date",
                    old.file, 0, subject="removed",
                )
            )  # fmt: skip
            continue
        differences = contract_differences(old, new)
        if not differences or new.major_version > old.major_version:
            continue  # compatible, or a new version is declared: the change is announced
        found.append(
            Violation(
                "GOV100", Severity.ERROR, ref,
                f"breaking change to the contract of public product '{ref}': "
                f"{'; '.join(differences)} (version {old.document.version})",
                "declare a new version (version: in its defs.yaml, dbt versions:) so consumers "
                "can migrate, or keep the column, its type and its not-null promise",
                new.file, new.line, subject="changed",
            )
        )  # fmt: skip
    return found
