"""`TenantSync`: every registered tenant's PostgreSQL database into schema tenant_<id>.

    type: platform_core.components.TenantSync
    attributes:
      registry_file: mesh_tenant_sync/tenants.yaml   # relative to the project folder

The registry is read on every sensor tick ($MESH_TENANT_REGISTRY_FILE or the PostgreSQL
registry override the file), so onboarding or disabling a tenant needs no deploy. The machinery
is platform_core.tenancy.definitions.
"""

from __future__ import annotations

import dagster as dg
from pydantic import BaseModel, Field


class TenantSync(dg.Component, dg.Resolvable, dg.Model):
    """Tenant-partitioned sync assets, their blocking checks, the registry and cron sensors."""

    registry_file: str = Field(
        description="The tenant registry (tenants.yaml), relative to the project folder."
    )

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> TenantSync:
        # The attributes as written, like DataProducts': Dagster's template rendering of string
        # fields imports jinja2 (~40 ms) at every load of this dbt-free location, for a path
        # that is already relative to the project folder.
        return cls.model_validate(attributes.model_dump() if attributes is not None else {})

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from platform_core.tenancy.definitions import tenant_sync_definitions
        from platform_core.tenancy.registry import registry_path

        return tenant_sync_definitions(registry_path(context.project_root / self.registry_file))
