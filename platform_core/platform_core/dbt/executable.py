"""`mesh-dbt`: the `dbt` beside this interpreter, answering `--version` without going online.

dagster-dbt's `DbtCliResource` runs `<dbt_executable> --version` to learn the dbt version
(once per resource, i.e. per run and per preparation), and dbt's own `--version` looks up the
latest release on PyPI first (1 s timeout, ~2.4 s in all here). The version dagster-dbt needs is
the installed dbt-core's, printed in dbt's own format; every other command runs dbt itself.
Kept free of heavy imports: it starts before every dbt command.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"Core:\n  - installed: {metadata.version('dbt-core')}")
        return
    dbt = str(Path(sys.executable).with_name("dbt"))
    os.execv(dbt, [dbt, *sys.argv[1:]])


if __name__ == "__main__":
    main()
