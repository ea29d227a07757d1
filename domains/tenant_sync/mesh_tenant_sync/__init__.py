"""The tenant_sync code location (owned by the platform team)."""
