"""`DbtModels`: a domain's slice of the mesh's one dbt project (its dbt group).

    type: platform_core.components.DbtModels
    attributes:
      group: sales

The models of the group become one subsettable multi-asset (keys, owners, tags and contracts
from platform_core.dbt.translator), their dbt tests asset checks; refs into other groups and
sources are plain cross-location dependencies.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from platform_core.identifiers import IDENTIFIER


class DbtModels(dg.Component, dg.Resolvable, dg.Model):
    """The models of one dbt group (= this domain) of the mesh's dbt project."""

    group: str = Field(pattern=IDENTIFIER.pattern, description="The dbt group: this domain.")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        # dagster_dbt costs ~1.7 s to import: only locations with dbt models pay it.
        from platform_core.catalog import catalog_for
        from platform_core.dbt.assets import dbt_slice

        models = dbt_slice(self.group, catalog=catalog_for(context.path))
        return dg.Definitions(assets=models.assets, resources=models.resources)
