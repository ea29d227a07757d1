"""Data diffs for people: the terminal block and the pull request's Markdown section."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mesh_tooling.preview.data_diff import BY_WHOLE_ROW, TableDiff


def _rows(diff: TableDiff) -> str:
    if diff.base_rows is None:
        return f"new table, {diff.head_rows:,} rows"
    delta = diff.head_rows - diff.base_rows
    return f"{diff.base_rows:,} -> {diff.head_rows:,} rows ({delta:+,})"


def _by_key(diff: TableDiff) -> str:
    if diff.added is None:
        return "rows not matched (no column alike on both sides)" if diff.base_rows else ""
    if diff.row_match == BY_WHOLE_ROW:
        return (
            f"by whole row (no row key): {diff.added:,} added, {diff.removed:,} removed "
            "(a changed row counts as removed + added)"
        )
    return (
        f"by {', '.join(diff.row_key)}: {diff.added:,} added, {diff.removed:,} removed, "
        f"{diff.changed:,} changed"
    )


def _counts(counts: dict[str, int]) -> list[str]:
    """A tenant's added, removed, changed ('-': whole rows have no changed count)."""
    return [str(counts[s]) if s in counts else "-" for s in ("added", "removed", "changed")]


def _stat(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{int(value):,}"


def _schema(diff: TableDiff) -> list[str]:
    lines = []
    if diff.added_columns:
        lines.append(f"added columns: {', '.join(diff.added_columns)}")
    if diff.removed_columns:
        lines.append(f"removed columns: {', '.join(diff.removed_columns)}")
    if diff.retyped_columns:
        lines.append(f"retyped: {'; '.join(diff.retyped_columns)}")
    return lines


def _sample(sample: dict[str, Any], key: list[str]) -> str:
    ident = ", ".join(f"{k}={sample[k]}" for k in key) or "row"
    rest = []
    for name, value in sample.items():
        if name in key or name == "change":
            continue
        if isinstance(value, list):
            rest.append(f"{name}: {value[0]} -> {value[1]}")
        else:
            rest.append(f"{name}={value}")
    return f"{sample['change']} {ident}" + (f" ({'; '.join(rest[:6])})" if rest else "")


def render_text(diffs: Iterable[TableDiff]) -> str:
    lines = ["Data diff (branch against main):"]
    for diff in diffs:
        if diff.unchanged:
            lines.append(f"  {diff.key}: unchanged ({_rows(diff)})")
            continue
        lines.append(f"  {diff.key}: {_rows(diff)}; {_by_key(diff)}".rstrip("; "))
        lines += [f"    {line}" for line in _schema(diff)]
        for tenant, counts in sorted(diff.by_tenant.items()):
            moved = ", ".join(
                f"{counts[s]} {s}" for s in ("added", "removed", "changed") if s in counts
            )
            lines.append(f"    tenant {tenant}: {moved}")
        for change in diff.columns:
            stats = ", ".join(
                f"{s} {_stat(getattr(change.base, s))} -> {_stat(getattr(change.head, s))}"
                for s in change.changed
            )
            lines.append(f"    column {change.column}: {stats}")
        lines += [f"    e.g. {_sample(s, diff.row_key)}" for s in diff.samples]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(diffs: Iterable[TableDiff]) -> str:
    diffs = list(diffs)
    lines = ["### Data diff (branch against main)", ""]
    if not diffs:
        return "\n".join([*lines, "No table to compare.", ""])
    lines += ["| product | rows | by key | schema |", "|---|---|---|---|"]
    for diff in diffs:
        schema = "; ".join(_schema(diff)) or "-"
        by_key = "unchanged" if diff.unchanged else (_by_key(diff) or "-")
        lines.append(f"| `{diff.key}` | {_rows(diff)} | {_cell(by_key)} | {_cell(schema)} |")
    lines.append("")
    for diff in diffs:
        if diff.unchanged or not (diff.by_tenant or diff.columns or diff.samples):
            continue
        lines += [f"<details><summary><code>{diff.key}</code></summary>", ""]
        if diff.by_tenant:
            lines += ["| tenant | added | removed | changed |", "|---|---:|---:|---:|"]
            for tenant, c in sorted(diff.by_tenant.items()):
                lines.append(f"| {_cell(tenant)} | {' | '.join(_counts(c))} |")
            lines.append("")
        if diff.columns:
            lines += ["| column | statistic | main | branch |", "|---|---|---:|---:|"]
            for change in diff.columns:
                for s in change.changed:
                    base, head = getattr(change.base, s), getattr(change.head, s)
                    lines.append(f"| {change.column} | {s} | {_stat(base)} | {_stat(head)} |")
            lines.append("")
        if diff.samples:
            lines += ["Sample rows:", ""]
            lines += [f"- {_cell(_sample(s, diff.row_key))}" for s in diff.samples]
            lines.append("")
        lines += ["</details>", ""]
    return "\n".join(lines)
