"""The finance domain's code location: billing (dbt group `finance`) and a revenue forecast."""

from platform_core import location_definitions

defs = location_definitions(__file__)
