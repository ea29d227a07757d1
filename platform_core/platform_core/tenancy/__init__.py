"""Tenancy: the tenant registry, sync, isolation, and `tenant_session`, the one way code acting
for a tenant gets a warehouse session."""

from platform_core.tenancy.session import TenantSession, TenantWarehouse, tenant_session

__all__ = ["TenantSession", "TenantWarehouse", "tenant_session"]
