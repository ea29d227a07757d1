"""The mesh's one impact model: what a change does to the mesh, asset by asset.

Between a base ref and the working tree: new, changed and removed assets, and why each changed
(a declared field; `code`, the implementation half of a Python product's code_version; for dbt
models dbt's `state:modified` rules, see governance.dbt_state: body, config, relation,
contract, a macro), everything downstream of them in the global graph, the consumers in other
domains and whom to notify, plus the files changed per location (dbt files under their group's
location). A change to platform_core, the lock or the root project files changes every asset.
`meshctl impact` renders it for the pull request; `meshctl preview` rebuilds and diffs exactly
its changed and downstream assets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platform_core.errors import ConfigurationError
from platform_core.products.code_version import code_part

from governance.config import GovernanceConfig
from governance.dbt_state import ModelChange
from governance.engine import Violation
from governance.model import AssetRecord, MeshGraph

if TYPE_CHECKING:
    from governance.basecache import BaseSide

# Files every location's image and behaviour depend on: a change to one changes every asset.
GLOBAL_FILES = ("pyproject.toml", "uv.lock", "dg.toml", "deployment/Dockerfile")
GLOBAL_FOLDERS = ("platform_core/",)
DBT_MODELS = "dbt_project/models/"
PLATFORM = "platform"  # the reason given when a global file changed
_RAW_SQL = "\n\n#### Raw SQL:"

# What counts as a change of an asset's definition (not its position in a file).
_COMPARED = (
    "description", "owners", "tags", "kinds", "group", "deps", "materializable", "columns",
    "freshness", "checks", "blocking_checks", "metadata", "location",
)  # fmt: skip


@dataclass
class AssetChange:
    key: str
    location: str
    status: str  # new | changed | removed
    fields: list[str] = field(default_factory=list)  # why: declared fields, code, body, ...
    consumers: list[str] = field(default_factory=list)  # downstream keys in other domains
    notify: list[str] = field(default_factory=list)  # owners + contact of those domains


@dataclass
class Impact:
    changes: list[AssetChange]
    breaking: list[Violation]
    # location -> files changed in its folder (dbt files: under their group's location, other
    # dbt project files under "dbt_project")
    changed_files: dict[str, list[str]] = field(default_factory=dict)
    downstream: list[str] = field(default_factory=list)  # affected, not changed themselves
    everything: bool = False  # platform_core / the lock changed
    base: str = ""
    # the head locations that hold a changed or downstream asset (all a rebuild has to load)
    rebuild_locations: list[str] = field(default_factory=list)

    @property
    def notify(self) -> list[str]:
        return sorted({n for c in self.changes for n in c.notify})

    @property
    def changed(self) -> list[str]:
        """Keys to rebuild: new and changed assets (removed ones have nothing to build)."""
        return sorted(c.key for c in self.changes if c.status != "removed")


def _first(records: list[AssetRecord]) -> AssetRecord:
    materializable = [r for r in records if r.materializable]
    return (materializable or records)[0]


def _is_dbt(record: AssetRecord) -> bool:
    return "dbt" in record.kinds


def _changed_fields(
    old: AssetRecord, new: AssetRecord, dbt: Mapping[str, ModelChange] | None
) -> list[str]:
    old_d, new_d = asdict(old), asdict(new)
    if _is_dbt(new):  # dagster-dbt appends the raw SQL to the description: the body decides
        for record in (old_d, new_d):
            record["description"] = record["description"].split(_RAW_SQL, 1)[0]
    fields = [name for name in _COMPARED if old_d[name] != new_d[name]]
    if _is_dbt(new) and dbt is not None:
        # dagster-dbt's code_version is the file's checksum (whitespace counts): dbt's
        # state:modified rules decide instead.
        change = dbt.get(new.key)
        fields += change.reasons if change is not None else []
    elif code_part(old.code_version) != code_part(new.code_version):
        fields.append("code")
    elif old.code_version != new.code_version and not fields:
        fields.append("declaration")
    return fields


def _children(graph: MeshGraph) -> dict[str, set[str]]:
    children: dict[str, set[str]] = {}
    for record in graph.all_records():
        for dep in record.deps:
            children.setdefault(dep, set()).add(record.key)
    return children


def _downstream(
    graph: MeshGraph, key: str, children: dict[str, set[str]] | None = None
) -> set[str]:
    children = children if children is not None else _children(graph)
    seen: set[str] = set()
    frontier = [key]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen


def _git_lines(root: Path, *args: str) -> list[str]:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigurationError(
            f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}. Fix: run inside the "
            "mesh's git checkout and pass an existing --base ref (in CI fetch it first, e.g. "
            "actions/checkout with fetch-depth: 0)."
        )
    return done.stdout.splitlines()


def merge_base(root: Path, base_ref: str) -> str:
    return _git_lines(root, "merge-base", base_ref, "HEAD")[0].strip()


def changed_files(root: Path, base_ref: str) -> list[str]:
    """Files that differ from `base_ref`: commits, staged and unstaged edits, new files."""
    listed = _git_lines(root, "diff", "--name-only", base_ref)
    listed += _git_lines(root, "ls-files", "--others", "--exclude-standard")
    return sorted({f for f in listed if f})


def touches_everything(files: list[str]) -> bool:
    return any(f in GLOBAL_FILES or f.startswith(GLOBAL_FOLDERS) for f in files)


def changed_files_by_location(
    root: Path, base_ref: str, graph: MeshGraph, files: list[str] | None = None
) -> dict[str, list[str]]:
    """Files that differ from `base_ref` (committed or not), grouped by location folder; dbt
    files under dbt_project/models/<group>/ go to the location of that group."""
    listed = changed_files(root, base_ref) if files is None else files
    by_location: dict[str, set[str]] = {}
    for location in graph.locations.values():
        prefix = location.path.rstrip("/") + "/"
        for f in listed:
            if location.path and f.startswith(prefix):
                by_location.setdefault(location.name, set()).add(f)
    for f in listed:
        if f.startswith(DBT_MODELS):
            group = f.removeprefix(DBT_MODELS).split("/", 1)[0]
            by_location.setdefault(group if group in graph.locations else "dbt_project", set()).add(
                f
            )
        elif f.startswith("dbt_project/"):
            by_location.setdefault("dbt_project", set()).add(f)
    return {name: sorted(files) for name, files in sorted(by_location.items())}


def analyse(
    base: MeshGraph,
    head: MeshGraph,
    config: GovernanceConfig,
    breaking: list[Violation],
    dbt: Mapping[str, ModelChange] | None = None,
    everything: bool = False,
) -> Impact:
    """`dbt`: the state:modified changes of dbt models by key (None: compare code versions)."""
    changes: list[AssetChange] = []
    head_children, base_children = _children(head), _children(base)
    for key in sorted(set(base.assets) | set(head.assets)):
        old = _first(base.assets[key]) if key in base.assets else None
        new = _first(head.assets[key]) if key in head.assets else None
        if old and not old.materializable and (new is None or not new.materializable):
            continue  # stubs / external sources are not changes of this mesh
        if new is not None and not new.materializable and old is None:
            continue
        if old is None and new is not None:
            change = AssetChange(key, new.location, "new")
        elif new is None and old is not None:
            change = AssetChange(key, old.location, "removed")
        else:
            assert old is not None and new is not None
            changed = _changed_fields(old, new, dbt)
            if everything:
                changed.append(PLATFORM)
            if not changed:
                continue
            change = AssetChange(key, new.location, "changed", changed)
        graph = base if change.status == "removed" else head
        children = base_children if change.status == "removed" else head_children
        consumers = sorted(
            k
            for k in _downstream(graph, key, children)
            if k in graph.assets and _first(graph.assets[k]).location != change.location
        )
        change.consumers = consumers
        notify = set()
        for consumer in consumers:
            record = _first(graph.assets[consumer])
            notify.update(record.owners)
            entry = config.registry.domains.get(record.location)
            if entry:
                notify.update(entry.owners)
                notify.add(entry.contact)
        change.notify = sorted(notify)
        changes.append(change)
    touched = {c.key for c in changes}
    below: set[str] = set()
    for c in changes:
        if c.status != "removed":
            below |= _downstream(head, c.key, head_children)
    materializable = {k for k, records in head.assets.items() if _first(records).materializable}
    downstream = sorted((below & materializable) - touched)
    rebuilt = {c.key for c in changes if c.status != "removed"} | set(downstream)
    locations = sorted({_first(head.assets[k]).location for k in rebuilt if k in head.assets})
    return Impact(
        changes, breaking, downstream=downstream, everything=everything, rebuild_locations=locations
    )


def _dbt_manifest(tree: Path) -> dict[str, Any] | None:
    """The tree's prepared dbt manifest (parsed now if missing or stale; None: no dbt project)."""
    from platform_core.dbt.preparer import prepare
    from platform_core.dbt.project import PROJECT_FOLDER, MeshDbtProject
    from platform_core.environment import current_environment

    folder = tree / PROJECT_FOLDER
    if not (folder / "dbt_project.yml").is_file():
        return None
    env = current_environment()
    project = MeshDbtProject(folder.resolve(), env.dbt_target)
    # Outside local development nothing parses on demand (locations read the manifest the
    # image build prepared); a base tree fresh from git has none yet, so it is parsed here.
    return json.loads(prepare(project, env, force=not project.manifest_path.is_file()).read_text())


def _quarantined(tree: Path) -> bool:
    """Whether the tree's dbt preparation had to disable a model (its manifest is a copy's)."""
    from platform_core.dbt.project import PROJECT_FOLDER, QUARANTINE_FILE
    from platform_core.environment import current_environment

    target = tree / PROJECT_FOLDER / "target" / current_environment().dbt_target
    return (target / QUARANTINE_FILE).is_file()


def dbt_model_changes(
    base: Mapping[str, Any] | None, head: Mapping[str, Any] | None
) -> dict[str, ModelChange] | None:
    """state:modified of the dbt models between two manifests (None if either is missing)."""
    from governance.dbt_state import modified_models

    if base is None or head is None:
        return None
    return {change.key: change for change in modified_models(base, head)}


def load_base_side(root: Path, base_commit: str) -> BaseSide:
    """The base commit's graph, dbt manifest and contracts, loaded from its tree (extracted
    from git into a temporary folder)."""
    from governance.basecache import BaseSide
    from governance.basetree import load_graph_in_subprocess, materialized_ref
    from governance.contracts import product_contracts

    with materialized_ref(root, base_commit) as tree:
        # The manifest first: outside local development the locations only read it.
        manifest = _dbt_manifest(tree)
        return BaseSide(load_graph_in_subprocess(tree), manifest, product_contracts(tree))


class PendingBase:
    """The base side: from the per-commit cache (the base tree is then not even extracted),
    else loading in its own process (governance.base_load) while this one loads the head. The
    two loads are independent, so a first impact takes about the longer of them, not the sum.
    `result()` waits for it (and keeps it in the cache)."""

    def __init__(self, root: Path, base_commit: str, use_cache: bool, start: bool = True) -> None:
        from platform_core.environment import current_environment

        from governance.basecache import BaseCache, base_key

        env = current_environment()
        self._root = root
        self._commit = base_commit
        self._cache = BaseCache(env.mesh_home, base_key(root, base_commit, env.dbt_target))
        self._use_cache = use_cache
        self._side = self._cache.get() if use_cache else None
        self._process: subprocess.Popen | None = None
        if start:
            self.start()

    @property
    def cached(self) -> bool:
        return self._side is not None

    def start(self) -> None:
        """Start loading the base in its own process (unless it came from the cache)."""
        root, base_commit = self._root, self._commit
        if self._side is None and self._process is None:
            self._folder = tempfile.TemporaryDirectory(prefix="mesh-base-side-")
            out = Path(self._folder.name)
            self._stderr = (out / "stderr").open("w")
            self._process = subprocess.Popen(
                [sys.executable, "-m", "governance.base_load", str(root), base_commit,
                 str(out / "side.json")],
                cwd=root, stdout=subprocess.DEVNULL, stderr=self._stderr,
            )  # fmt: skip

    def result(self) -> BaseSide:
        from governance.basecache import BaseSide

        if self._side is not None:
            return self._side
        self.start()
        assert self._process is not None
        with self._folder as folder:
            code = self._process.wait()
            self._stderr.close()
            out = Path(folder)
            if code != 0:
                error = (out / "stderr").read_text().strip()[-3000:]
                raise ConfigurationError(
                    f"Loading the base commit {self._commit[:12]} failed:\n{error}\nFix: the "
                    "error above is the base's; make it load here or compare with another --base."
                )
            self._side = BaseSide.from_json((out / "side.json").read_text())
        if self._use_cache:
            self._cache.put(self._side)
        return self._side

    def cancel(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
            self._stderr.close()
            self._folder.cleanup()


def _refuse_a_head_that_did_not_load(head: MeshGraph) -> None:
    """A branch location that fails to load defines no assets: its assets would look removed
    and a preview would rebuild and diff nothing, reporting "nothing changed". So it is an
    error naming the location, where it is declared, its error and the fix."""
    broken = [loc for loc in head.locations.values() if loc.load_error]
    if not broken:
        return
    described = "; ".join(
        f"location '{loc.name}' ({loc.path or loc.module}, declared in {loc.source}"
        + (f" line {loc.line}" if loc.line else "")
        + f"): {loc.load_error.strip()[:600]}"
        for loc in sorted(broken, key=lambda loc: loc.name)
    )
    fixes = sorted({loc.load_fix for loc in broken if loc.load_fix})
    raise ConfigurationError(
        f"This branch does not load: {described}. What it changes cannot be judged while a "
        "location fails (its assets would look removed, and nothing would be rebuilt or "
        f"diffed). Fix: {'; '.join(fixes) or 'fix the error above'}, then run it again."
    )


def _refuse_a_base_that_did_not_load(graph: MeshGraph, base_commit: str) -> None:
    """A base location that failed to load would make every one of its assets look new (and
    every one rebuilt by a preview): the impact cannot be judged, so it is an error."""
    broken = {name: loc.load_error for name, loc in graph.locations.items() if loc.load_error}
    if broken:
        first = "; ".join(
            f"location '{name}': {error.strip().splitlines()[-1][:300]}"
            for name, error in sorted(broken.items())
        )
        raise ConfigurationError(
            f"The base commit {base_commit[:12]} does not load ({first}), so what this branch "
            "changes cannot be judged against it. Fix: make the base load in this environment "
            "(the error above is the base's, not the branch's), or compare with another --base."
        )


def assess(
    root: Path, base_ref: str, config: GovernanceConfig | None = None, *, use_cache: bool = True
) -> Impact:
    """The impact of the working tree of `root` against the merge base with `base_ref`.

    With `use_cache`, the base side comes from the per-commit cache (governance.basecache)
    and unchanged head locations from the gate's cache (governance.cache)."""
    from governance.base_derive import PendingBaseManifest, derived_side, edited_model_sql
    from governance.breaking import breaking_between
    from governance.config import load_config
    from governance.contracts import product_contracts
    from governance.loader import load_mesh

    config = config or load_config(root)
    base_commit = merge_base(root, base_ref)
    files = changed_files(root, base_commit)
    # The working tree is the base commit: nothing on the base side can differ.
    pending = PendingBase(root, base_commit, use_cache, start=False) if files else None
    # Only dbt models' SQL edited: the base's manifest is all the base side needs to load.
    models = edited_model_sql(root, base_commit) if pending and not pending.cached else None
    manifest_only = PendingBaseManifest(root, base_commit, use_cache) if models else None
    if pending is not None and manifest_only is None:
        pending.start()
    try:
        head = load_mesh(root, use_cache=use_cache)
        _refuse_a_head_that_did_not_load(head)
    except BaseException:
        for waiting in (pending, manifest_only):
            if waiting is not None:
                waiting.cancel()
        raise
    if pending is None:
        impact = Impact([], [])
    else:
        head_manifest, head_contracts = _dbt_manifest(root), product_contracts(root)
        base = None
        if manifest_only is not None and models is not None:
            manifest = manifest_only.result()
            if manifest is not None and not _quarantined(root):
                base = derived_side(head, manifest.manifest, head_manifest, models, head_contracts)
        if base is None:  # any other change, or the derivation's conditions do not hold
            base = pending.result()
        _refuse_a_base_that_did_not_load(base.graph, base_commit)
        breaking = breaking_between(base.contracts, head_contracts)
        dbt = dbt_model_changes(base.manifest, head_manifest)
        impact = analyse(base.graph, head, config, breaking, dbt, touches_everything(files))
    impact.changed_files = changed_files_by_location(root, base_commit, head, files)
    impact.base = base_commit
    return impact


def render_markdown(impact: Impact) -> str:
    lines = ["## Data mesh impact", ""]
    if not impact.changes and not impact.breaking and not impact.changed_files:
        return "\n".join([*lines, "No asset of the mesh changes in this pull request.", ""])
    if impact.breaking:
        lines += [f"### :x: {len(impact.breaking)} breaking change(s)", ""]
        lines += [f"- **{v.target}**: {v.message}. _Fix:_ {v.fix}" for v in impact.breaking]
        lines.append("")
    counts = {s: sum(c.status == s for c in impact.changes) for s in ("new", "changed", "removed")}
    lines += [
        f"**{counts['new']} new, {counts['changed']} changed, {counts['removed']} removed** "
        "asset(s).",
        "",
        "| asset | location | change | consumers in other domains |",
        "|---|---|---|---|",
    ]
    for c in impact.changes:
        what = c.status + (f" ({', '.join(c.fields)})" if c.fields else "")
        consumers = ", ".join(f"`{k}`" for k in c.consumers) or "-"
        lines.append(f"| `{c.key}` | {c.location} | {what} | {consumers} |")
    lines.append("")
    if impact.downstream:
        lines += [
            f"**Affected downstream** ({len(impact.downstream)}, rebuilt by the preview): "
            + ", ".join(f"`{k}`" for k in impact.downstream),
            "",
        ]
    if impact.changed_files:
        lines += ["**Code changed** (review the products these files implement):", ""]
        for location, files in sorted(impact.changed_files.items()):
            lines.append(f"- {location}: " + ", ".join(f"`{f}`" for f in files))
        lines.append("")
    if impact.notify:
        lines += ["**Notify:** " + ", ".join(impact.notify), ""]
    return "\n".join(lines)


def render_json(impact: Impact) -> str:
    return json.dumps(
        {
            "changes": [asdict(c) for c in impact.changes],
            "breaking": [asdict(v) for v in impact.breaking],
            "notify": impact.notify,
            "changed_files": impact.changed_files,
            "downstream": impact.downstream,
            "everything": impact.everything,
            "base": impact.base,
            "rebuild_locations": impact.rebuild_locations,
        },
        indent=2,
        default=str,
    )
