"""The global graph: who may depend on whom, and that every edge lands somewhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from governance.rules._where import where
from governance.ruleset import GateContext, Severity, Violation, rule


@rule("GOV040", "dependencies/public-only", Severity.ERROR, "cross-domain deps on public only")
def cross_domain_public_only(context: GateContext) -> Iterator[Violation]:
    producers = context.graph.producers()
    for asset in context.graph.all_records():
        for dep in asset.deps:
            upstream = producers.get(dep)
            if upstream and upstream.location != asset.location and not upstream.is_public:
                file, line = where(context, asset)
                yield Violation(
                    "GOV040", Severity.ERROR, asset.key,
                    f"asset '{asset.key}' ({asset.location}) depends on '{dep}', which is "
                    f"{upstream.visibility or 'untagged'} to domain '{upstream.location}'",
                    f"depend on a public product of '{upstream.location}', or ask its owners "
                    f"({', '.join(upstream.owners) or 'see domains.yaml'}) to publish '{dep}'",
                    file, line, subject=dep,
                )  # fmt: skip


@rule("GOV041", "dependencies/dangling", Severity.ERROR, "every dependency has a producer")
def dangling(context: GateContext) -> Iterator[Violation]:
    known = set(context.graph.assets) | set(context.config.policy.external_sources)
    for asset in context.graph.all_records():
        for dep in asset.deps:
            if dep not in known:
                file, line = where(context, asset)
                yield Violation(
                    "GOV041", Severity.ERROR, asset.key,
                    f"asset '{asset.key}' depends on '{dep}', which no location produces",
                    f"fix the key, add the producing location, or declare '{dep}' an external "
                    "source (an AssetSpec, or external_sources in governance/policy.yaml)",
                    file, line, subject=dep,
                )  # fmt: skip


@rule("GOV042", "dependencies/duplicate-key", Severity.ERROR, "one producer per key")
def duplicate_keys(context: GateContext) -> Iterator[Violation]:
    for key, records in context.graph.assets.items():
        producers = sorted({r.location for r in records if r.materializable})
        if len(producers) > 1:
            file, line = where(context, records[-1])
            yield Violation(
                "GOV042", Severity.ERROR, key,
                f"asset key '{key}' is produced by {len(producers)} locations: {producers}",
                "keep one producer; the others depend on it by key (prefix keys with the domain)",
                file, line,
            )  # fmt: skip


@dataclass(frozen=True)
class Edge:
    """One cross-domain dependency: `consumer` (in `downstream`) depends on `dep`."""

    upstream: str
    downstream: str
    consumer: str
    dep: str
    file: str
    line: int

    def describe(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file or "(unknown file)"
        return f"{self.consumer} -> {self.dep} ({place})"


def _domain_edges(context: GateContext) -> tuple[dict[str, set[str]], list[Edge]]:
    producers = context.graph.producers()
    edges: dict[str, set[str]] = {}
    evidence: list[Edge] = []
    for asset in producers.values():
        for dep in asset.deps:
            upstream = producers.get(dep)
            if upstream and upstream.location != asset.location:
                edges.setdefault(upstream.location, set()).add(asset.location)
                file, line = where(context, asset)
                evidence.append(Edge(upstream.location, asset.location, asset.key, dep, file, line))
    return edges, sorted(evidence, key=lambda e: (e.downstream, e.consumer, e.dep))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one domain (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@rule("GOV043", "dependencies/domain-cycle", Severity.ERROR, "no cycle between domains")
def domain_cycles(context: GateContext) -> Iterator[Violation]:
    edges, evidence = _domain_edges(context)
    for component in _cycles(edges):
        members = set(component)
        inside = [e for e in evidence if e.upstream in members and e.downstream in members]
        first = inside[0] if inside else None
        yield Violation(
            "GOV043", Severity.ERROR, " <-> ".join(component),
            f"domains {component} depend on each other in a cycle through "
            f"{len(inside)} cross-domain edge(s): " + "; ".join(e.describe() for e in inside),
            "break the cycle at one of these edges: move the shared logic into one domain's "
            "public product, or into a new upstream domain both consume",
            first.file if first else "", first.line if first else 0,
            related=[(e.file, e.line, f"{e.consumer} depends on {e.dep}") for e in inside],
        )  # fmt: skip
