"""`python -m platform_core.dbt`: parse the dbt project once for this environment's target.

Location images run it at build time (they do not install `meshctl`); `meshctl dbt-prepare`
calls the same function.
"""

from __future__ import annotations

import sys
from pathlib import Path

from platform_core.environment import current_environment
from platform_core.errors import DbtProjectError
from platform_core.workspace import find_mesh_root


def prepare_for_environment(root: Path | None = None) -> int:
    from platform_core.dbt.preparer import prepare
    from platform_core.dbt.project import mesh_dbt_project

    env = current_environment()
    project = mesh_dbt_project(env, root or find_mesh_root())
    try:
        manifest = prepare(project, env, force=True)
    except DbtProjectError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"dbt manifest prepared for target '{project.target}' ({env.name}): {manifest}")
    for domain, model in project.quarantine().items():
        # Only that domain's location fails to load; the image builds for the others.
        print(f"\nQuarantined: model '{model.node}' of domain '{domain}':\n{model.message}")
    return 0


if __name__ == "__main__":
    sys.exit(prepare_for_environment())
