"""`python -m governance.base_load ROOT COMMIT OUT`: the impact model's base side
(governance.impact.load_base_side) loaded in a process of its own and written to OUT as JSON,
so that the caller loads the head meanwhile. A mesh error is printed as its message alone."""

from __future__ import annotations

import sys
from pathlib import Path

from platform_core.errors import MeshError


def main(argv: list[str]) -> int:
    from governance.impact import load_base_side

    root, commit, out = argv
    try:
        side = load_base_side(Path(root), commit)
    except MeshError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    Path(out).write_text(side.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
