"""The platform team's code location: shared ingestion of tenant application data."""

from pathlib import Path

from platform_core.deploy.clone_jobs import clone_lifecycle

from mesh_platform import products
from platform_core import build_domain_definitions, current_environment

# The per-pull-request Snowflake clone's jobs (branch deployments) and its clean-up (production).
lifecycle = clone_lifecycle(current_environment())

defs = build_domain_definitions(
    Path(__file__).with_name("products.yaml"),
    [products.tenants, products.tenant_customers, products.tenant_products, products.tenant_orders],
    jobs=lifecycle.jobs,
    schedules=lifecycle.schedules,
    resources=lifecycle.resources,
)
