"""Where to point a reader (and a SARIF annotation) for an asset."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from governance.model import AssetRecord
from governance.ruleset import GateContext
from governance.yamllines import product_line


def where(context: GateContext, asset: AssetRecord) -> tuple[str, int]:
    if asset.source_file.endswith(".yaml") or asset.source_file.endswith(".yml"):
        name = asset.key.rsplit("/", 1)[-1]
        return asset.source_file, product_line(context.root / asset.source_file, name)
    return asset.source_file, asset.source_line


def declared_in(asset: AssetRecord) -> str:
    return asset.source_file or f"location '{asset.location}'"


@cache
def under(path: str, folder: str) -> bool:
    if not path or not folder:
        return False
    return Path(path).parts[: len(Path(folder).parts)] == Path(folder).parts
