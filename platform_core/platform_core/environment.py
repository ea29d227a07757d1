"""The one place that decides which environment the mesh runs in.

Nothing else in the repository reads the deployment variables below: every resource, the dbt
target and the CLI ask `current_environment()`. The table in DESIGN.md is the contract:

| env    | detected by                                                  | warehouse                         |
|--------|--------------------------------------------------------------|-----------------------------------|
| local  | nothing set, or MESH_ENV=local                               | DuckDB file under .mesh/          |
| branch | DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1                          | Snowflake <DB>_CLONE_<PR id>      |
| prod   | DAGSTER_CLOUD_DEPLOYMENT_NAME=prod or MESH_ENV=prod          | Snowflake <DB>                    |

`DAGSTER_IS_DEV_CLI` is deliberately ignored: `dg` sets it for every command, in CI too.
A branch deployment always wins over anything that says "prod", so a misconfigured branch can
only ever end up *less* privileged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from platform_core.errors import ConfigurationError

MESH_ENV = "MESH_ENV"
MESH_HOME = "MESH_HOME"
BRANCH_FLAG = "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT"
DEPLOYMENT_NAME = "DAGSTER_CLOUD_DEPLOYMENT_NAME"
PULL_REQUEST_ID = "DAGSTER_CLOUD_PULL_REQUEST_ID"
SNOWFLAKE_DATABASE = "SNOWFLAKE_DATABASE"
AUTOMATION_INTERVAL = "MESH_AUTOMATION_INTERVAL_SECONDS"

# Snowflake identities. Production (and the pull-request workflow that creates and drops
# clones) connects as the privileged platform identity; a branch deployment connects as its
# own user and role, which hold privileges on clones only, never on production. A branch
# deployment is given only the SNOWFLAKE_BRANCH_* variables.
SNOWFLAKE_CREDENTIALS = {
    "user": "SNOWFLAKE_USER",
    "password": "SNOWFLAKE_PASSWORD",
    "role": "SNOWFLAKE_ROLE",
}
SNOWFLAKE_BRANCH_CREDENTIALS = {
    "user": "SNOWFLAKE_BRANCH_USER",
    "password": "SNOWFLAKE_BRANCH_PASSWORD",
    "role": "SNOWFLAKE_BRANCH_ROLE",
}

_PR_ID = re.compile(r"[0-9]+")  # whole-string matches only (fullmatch)
_DATABASE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class EnvName(StrEnum):
    LOCAL = "local"
    BRANCH = "branch"
    PROD = "prod"


@dataclass(frozen=True)
class Environment:
    """Where this process runs, and the names that follow from it."""

    name: EnvName
    mesh_home: Path
    production_database: str | None = None
    pull_request_id: str | None = None
    automation_interval_seconds: int = 30

    @property
    def is_local(self) -> bool:
        return self.name is EnvName.LOCAL

    @property
    def is_branch(self) -> bool:
        return self.name is EnvName.BRANCH

    @property
    def warehouse_kind(self) -> str:
        return "duckdb" if self.is_local else "snowflake"

    @property
    def duckdb_path(self) -> Path:
        """The one local warehouse file every location shares (one schema per domain)."""
        return self.mesh_home / "warehouse.duckdb"

    @property
    def landing_dir(self) -> Path:
        """Where raw source extracts land before ingestion copies them into the warehouse."""
        return self.mesh_home / "landing"

    @property
    def warehouse_database(self) -> str:
        """The warehouse database this environment writes to.

        Local: the DuckDB catalog name. Branch: the per-pull-request clone of production.
        Prod: the production database itself.
        """
        if self.is_local:
            return "warehouse"
        assert self.production_database is not None  # enforced by current_environment
        if self.is_branch:
            return clone_database_name(self.production_database, self.pull_request_id or "")
        return self.production_database

    @property
    def dbt_target(self) -> str:
        return {"local": "duckdb", "branch": "snowflake_branch", "prod": "snowflake_prod"}[
            self.name
        ]

    def assert_may_write(self, database: str) -> None:
        """Refuse, in a branch deployment, any database but the pull request's own clone."""
        if self.is_branch and database.upper() != self.warehouse_database.upper():
            raise BranchWriteRefused(
                f"Branch deployment for pull request {self.pull_request_id} tried to use warehouse "
                f"database '{database}'. A branch deployment may only use its clone "
                f"'{self.warehouse_database}'. Fix: do not set the database explicitly; "
                "platform_core derives it from the environment."
            )


def snowflake_credential_variables(
    env: Environment, *, clone_admin: bool = False
) -> dict[str, str]:
    """Which variables hold the Snowflake user/password/role for this process.

    Branch deployments: the branch identity. Production, and `clone_admin` (the pull-request
    workflow creating or dropping a clone, outside the branch deployment): the platform's.
    """
    if env.is_branch and not clone_admin:
        return dict(SNOWFLAKE_BRANCH_CREDENTIALS)
    return dict(SNOWFLAKE_CREDENTIALS)


def snowflake_branch_role(environ: Mapping[str, str] | None = None) -> str | None:
    """The branch role granted on a new clone (read by the clone-creating workflow step)."""
    value = (os.environ if environ is None else environ).get(SNOWFLAKE_BRANCH_CREDENTIALS["role"])
    return value.strip() if value and value.strip() else None


class BranchWriteRefused(ConfigurationError):
    """A branch deployment tried to address a database other than its own clone."""


def clone_database_name(production_database: str, pull_request_id: str) -> str:
    if not _PR_ID.fullmatch(pull_request_id):
        raise ConfigurationError(
            f"{PULL_REQUEST_ID}={pull_request_id!r} is not a pull request number. "
            "Fix: Dagster+ sets it in branch deployments; set it to the numeric pull request id."
        )
    return f"{production_database.upper()}_CLONE_{pull_request_id}"


def detect_environment(environ: Mapping[str, str]) -> Environment:
    """Decide the environment from a mapping of variables (pure: tests pass their own)."""
    requested = environ.get(MESH_ENV, "").strip().lower()
    if requested and requested not in {e.value for e in EnvName}:
        raise ConfigurationError(
            f"{MESH_ENV}={requested!r} is not an environment. "
            f"Fix: use one of {', '.join(e.value for e in EnvName)}, or unset it for local."
        )
    if environ.get(BRANCH_FLAG, "").strip() in {"1", "true", "True"}:
        name = EnvName.BRANCH
    elif environ.get(DEPLOYMENT_NAME, "").strip() == "prod" or requested == EnvName.PROD:
        name = EnvName.PROD
    elif requested == EnvName.BRANCH:
        raise ConfigurationError(
            f"{MESH_ENV}=branch is not enough to run as a branch deployment. "
            f"Fix: set {BRANCH_FLAG}=1 and {PULL_REQUEST_ID}=<number> (Dagster+ does this)."
        )
    else:
        name = EnvName.LOCAL

    interval_raw = environ.get(AUTOMATION_INTERVAL, "30")
    if not interval_raw.isdigit() or int(interval_raw) < 1:
        raise ConfigurationError(
            f"{AUTOMATION_INTERVAL}={interval_raw!r} must be a whole number of seconds >= 1."
        )
    home = Path(environ[MESH_HOME]) if environ.get(MESH_HOME) else default_mesh_home()
    if name is EnvName.LOCAL:
        return Environment(name, home.resolve(), automation_interval_seconds=int(interval_raw))

    database = environ.get(SNOWFLAKE_DATABASE, "").strip()
    if not _DATABASE.fullmatch(database):
        raise ConfigurationError(
            f"{SNOWFLAKE_DATABASE}={database!r}: the {name} environment needs the production "
            "Snowflake database name (letters, digits, underscores). Fix: set it in the deployment's "
            "environment variables."
        )
    pull_request = environ.get(PULL_REQUEST_ID, "").strip() or None
    if name is EnvName.BRANCH:
        # Validates the id; a branch without one cannot derive its clone, so it must not start.
        clone_database_name(database, pull_request or "")
    return Environment(
        name,
        home.resolve(),
        production_database=database.upper(),
        pull_request_id=pull_request if name is EnvName.BRANCH else None,
        automation_interval_seconds=int(interval_raw),
    )


def default_mesh_home() -> Path:
    """`.mesh/` at the repository root (found from the working directory), else under it."""
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "workspace.yaml").is_file() and (folder / "platform_core").is_dir():
            return folder / ".mesh"
    return cwd / ".mesh"


@cache
def current_environment() -> Environment:
    """The environment of this process, decided once."""
    return detect_environment(os.environ)
