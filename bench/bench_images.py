"""Benchmark: rebuilding a location image, next to a fully cached rebuild in the same run.

Builds deployment/Dockerfile with podman (mesh_tooling.manifests.images) from a copy of the
repository's tracked files, so a change can be made without touching the clone:
- cached: nothing changed (every layer from the cache: podman's fixed cost, the baseline);
- location code: a change in domains/sales (the code layers and dbt preparation only);
- platform_core: a change there, then the platform image too (both reuse the dependency layer);
- full mode also `--no-cache` (every layer again; uv's cache mount keeps the downloads).
--smoke: the cached rebuild only (seconds, once the image test built it). Prints seconds and
ratios against the cached rebuild; never fails on time. Without a usable podman it says why and
exits 0, except under CI=true (exit 1: CI must run it).

    uv run python bench/bench_images.py [--smoke]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mesh_tooling.manifests import images

ROOT = Path(__file__).resolve().parents[1]


def copy_of_repository(dest: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def touch(path: Path) -> None:
    with path.open("a") as handle:
        handle.write("\n# bench_images: a change\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the cached rebuild only")
    args = parser.parse_args()
    problem = images.runtime_problem()
    if problem:
        print(f"bench_images: podman unusable: {problem}")
        return 1 if os.environ.get("CI") else 0
    print(f"base image: {images.ensure_base_image():.0f} s (0 when already there)")
    with tempfile.TemporaryDirectory(prefix="bench-images-") as scratch:
        context, logs = Path(scratch) / "repo", Path(scratch) / "logs"
        logs.mkdir()
        copy_of_repository(context)

        def build(location: str, **options: bool) -> float:
            return images.build_image(
                location=location, log_dir=logs, context=context, **options
            ).seconds

        first = build("sales")
        print(f"first build of sales here: {first:.1f} s (cold or cached, as the machine was)")
        figures = {"cached": build("sales")}
        if not args.smoke:  # each rebuild below takes about a minute on 2 cores
            touch(context / "domains" / "sales" / "mesh_sales" / "definitions.py")
            figures["location code"] = build("sales")
            touch(context / "platform_core" / "platform_core" / "errors.py")
            figures["platform_core (sales)"] = build("sales")
            figures["platform_core (platform)"] = build("platform")
            figures["--no-cache (sales)"] = build("sales", no_cache=True)
    baseline = figures["cached"]
    for label, seconds in figures.items():
        print(f"{label:>26}: {seconds:7.1f} s  x{seconds / baseline:6.1f} of the cached rebuild")
    return 0


if __name__ == "__main__":
    sys.exit(main())
