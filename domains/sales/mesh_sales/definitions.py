"""The sales domain's code location: its products (orders, customers, daily revenue) are the
dbt models of group `sales` (dbt_project/models/sales/)."""

from platform_core import build_domain_definitions

defs = build_domain_definitions(dbt_group="sales")
