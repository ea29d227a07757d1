"""Offset ranges: what a micro-batch run owns, and how a sensor plans, retries and commits them.

Pure functions of (committed offset, high watermark, ranges of recent runs), so the rules that
make ingestion lossless are tested without a broker:

- a range is *covered* while its run is queued/running or once it succeeded;
- everything from the committed offset to the high watermark that no covered range holds is a
  gap, and gaps become new ranges (so a failed run's range is planned again: never skipped);
- the committed offset advances only through succeeded ranges contiguous from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from platform_core.errors import ConfigurationError


@dataclass(frozen=True, order=True)
class OffsetRange:
    """Offsets `start`..`end` (both inclusive) of one partition of a topic."""

    topic: str
    partition: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ConfigurationError(
                f"Offset range {self.label()} of topic '{self.topic}' is empty or negative. "
                "Fix: ranges are start..end inclusive with 0 <= start <= end."
            )

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def label(self) -> str:
        return f"{self.partition}:{self.start}-{self.end}"


def format_ranges(ranges: Iterable[OffsetRange]) -> str:
    """'0:100-199,3:40-89': the run tag that records which ranges a run owns."""
    return ",".join(r.label() for r in sorted(ranges))


def parse_ranges(topic: str, text: str) -> list[OffsetRange]:
    result = []
    for item in filter(None, text.split(",")):
        partition, span = item.split(":")
        start, end = span.split("-")
        result.append(OffsetRange(topic, int(partition), int(start), int(end)))
    return result


class RangeState(StrEnum):
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def commit_frontier(committed: int, succeeded: Iterable[OffsetRange]) -> int:
    """The next offset to commit: walk succeeded ranges contiguous from `committed`."""
    frontier = committed
    spans = sorted((r.start, r.end) for r in succeeded if r.end >= committed)
    for start, end in spans:
        if start > frontier:
            break
        frontier = max(frontier, end + 1)
    return frontier


def plan_ranges(
    topic: str,
    partition: int,
    committed: int,
    high_watermark: int,
    covered: Sequence[OffsetRange],
    max_batch_size: int,
    max_open_ranges: int,
    full_batches_only: bool = False,
) -> list[OffsetRange]:
    """New ranges filling the gaps between `committed` and `high_watermark` (exclusive).

    `covered` are the partition's ranges whose runs are in flight or succeeded. At most
    `max_open_ranges` ranges may be open (planned, in flight or succeeded but not yet
    committed) so a stuck run at the front cannot let the sensor run away.
    With `full_batches_only`, a trailing gap shorter than `max_batch_size` waits.
    """
    open_ranges = [r for r in covered if r.end >= committed]
    budget = max_open_ranges - len(open_ranges)
    planned: list[OffsetRange] = []
    cursor = committed
    spans = sorted((r.start, r.end) for r in open_ranges)
    gaps: list[tuple[int, int]] = []
    for start, end in spans:
        if start > cursor:
            gaps.append((cursor, min(start, high_watermark) - 1))
        cursor = max(cursor, end + 1)
    gaps.append((cursor, high_watermark - 1))
    for gap_start, gap_end in gaps:
        start = gap_start
        while start <= gap_end and budget > 0:
            end = min(start + max_batch_size - 1, gap_end)
            if full_batches_only and end - start + 1 < max_batch_size:
                break
            planned.append(OffsetRange(topic, partition, start, end))
            budget -= 1
            start = end + 1
    return planned


def waves(planned: dict[int, list[OffsetRange]]) -> list[list[OffsetRange]]:
    """Group planned ranges into runs: run k takes the k-th new range of every partition, so a
    run holds at most one range per partition and partitions advance together."""
    depth = max((len(v) for v in planned.values()), default=0)
    return [
        [ranges[k] for _, ranges in sorted(planned.items()) if k < len(ranges)]
        for k in range(depth)
    ]
