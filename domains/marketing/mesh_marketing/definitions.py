"""The marketing domain's code location: campaigns, spend, clicks and revenue attribution."""

from platform_core import location_definitions

defs = location_definitions(__file__)
