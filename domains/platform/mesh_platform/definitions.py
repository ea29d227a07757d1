"""The platform team's code location: shared ingestion of tenant application data."""

from platform_core import location_definitions

defs = location_definitions(__file__)
