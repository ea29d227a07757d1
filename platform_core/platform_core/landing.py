"""Landed extract files: `<landing>/<source>/<table>.parquet`, the way files land in object storage.

Ingestion products read them; the sample data (mesh_tooling.sample) writes them locally.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from platform_core.errors import ConfigurationError

if TYPE_CHECKING:
    import pyarrow as pa

SOURCES = {
    "tenant_app": ("tenants", "customers", "products", "orders"),
    "ads": ("campaigns", "ad_spend"),
    "clickstream": ("clicks",),
}


def landing_path(landing_dir: Path, table: str) -> Path:
    source = next(s for s, tables in SOURCES.items() if table in tables)
    return landing_dir / source / f"{table}.parquet"


def read_landing(landing_dir: Path, table: str) -> pa.Table:
    path = landing_path(landing_dir, table)
    if not path.is_file():
        raise ConfigurationError(
            f"No landed extract at {path}. Fix: run `meshctl seed` (or `./mesh up`) first."
        )
    import pyarrow.parquet as pq

    return pq.read_table(path)
