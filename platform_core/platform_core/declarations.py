"""Where a project's data-product declarations live, and their YAML line numbers.

A domain declares its products in `defs.yaml` files of its autoloaded `defs/` folder, each an
instance of the platform's `DataProducts` component. Everything that reads declarations
without loading a location (the product catalog, the governance gate, change detection, image
contexts) finds them through `declaration_files`; nothing else globs for them. Light on
purpose (standard library only): the governance gate imports it, and the image build runs
deploy/image_context.py with a bare Python. Reading them: platform_core.declaration_yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

DATA_PRODUCTS_TYPE = "platform_core.components.DataProducts"
DEFS_FOLDER = "defs"
DEFS_FILE = "defs.yaml"
# A textual match, so a file whose YAML is broken is still found (and then fails loudly).
_TYPE_LINE = re.compile(rf"^type:\s*['\"]?{re.escape(DATA_PRODUCTS_TYPE)}['\"]?\s*$", re.M)


def declaration_files(project_dir: Path, root_module: str) -> list[Path]:
    """The project's DataProducts `defs.yaml` files, sorted (none when it declares none)."""
    defs = project_dir / root_module / DEFS_FOLDER
    if not defs.is_dir():
        return []
    return sorted(
        path
        for path in defs.rglob(DEFS_FILE)
        if "__pycache__" not in path.parts and _TYPE_LINE.search(path.read_text())
    )
