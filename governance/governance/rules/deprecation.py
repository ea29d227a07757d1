"""Deprecated products: consumers are warned before the date and fail after it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from governance.rules._where import where
from governance.ruleset import GateContext, Severity, Violation, rule


@rule("GOV060", "deprecation/consumers", Severity.ERROR, "no consumers past deprecation_date")
def deprecated_consumers(context: GateContext) -> Iterator[Violation]:
    warn_days = context.config.policy.thresholds.deprecation_warn_days
    deprecated = {
        key: date.fromisoformat(record.metadata["deprecation_date"][:10])
        for key, record in context.graph.producers().items()
        if record.metadata.get("deprecation_date")
    }
    for consumer in context.graph.all_records():
        for dep in consumer.deps:
            when = deprecated.get(dep)
            if when is None:
                continue
            file, line = where(context, consumer)
            if context.today > when:
                yield Violation(
                    "GOV060", Severity.ERROR, consumer.key,
                    f"asset '{consumer.key}' consumes '{dep}', deprecated since {when}",
                    f"move to its replacement (ask the owners of '{dep}') and drop the input",
                    file, line, subject=dep,
                )  # fmt: skip
            elif context.today >= when - timedelta(days=warn_days):
                yield Violation(
                    "GOV060", Severity.WARNING, consumer.key,
                    f"asset '{consumer.key}' consumes '{dep}', deprecated from {when}",
                    f"move off '{dep}' before {when}; the gate fails after that date",
                    file, line, subject=dep,
                )  # fmt: skip
