"""Lag: per partition, the group's committed offset, the high watermark and the difference.

One rendering for `meshctl lag` and for the landing asset's metadata, so a person sees the same
numbers in the terminal and in the UI.
"""

from __future__ import annotations

from collections.abc import Sequence

from platform_core.streaming.resource import PartitionLag


def _committed(p: PartitionLag) -> str:
    return "-" if p.committed is None else str(p.committed)


def lag_table(lag: Sequence[PartitionLag]) -> str:
    lines = [f"{'topic':<16} {'partition':>9} {'committed':>12} {'high':>12} {'lag':>10}"]
    lines += [
        f"{p.topic:<16} {p.partition:>9} {_committed(p):>12} {p.high:>12} {p.lag:>10}" for p in lag
    ]
    lines.append(f"{'total':<16} {'':>9} {'':>12} {'':>12} {sum(p.lag for p in lag):>10}")
    return "\n".join(lines)


def lag_markdown(lag: Sequence[PartitionLag]) -> str:
    rows = "\n".join(f"| {p.partition} | {_committed(p)} | {p.high} | {p.lag} |" for p in lag)
    return f"| partition | committed | high watermark | lag |\n|---|---|---|---|\n{rows}"
