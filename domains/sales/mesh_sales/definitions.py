"""The sales domain's code location: its products (orders, customers, daily revenue) are the
dbt models of group `sales` (dbt_project/models/sales/)."""

from platform_core import location_definitions

defs = location_definitions(__file__)
