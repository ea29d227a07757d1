"""Owner-routed monitoring: the one home for alerts, incidents, channels, SLAs and budgets.

Every location gets the monitoring sensors from its root (platform_core.definitions); anything else that
must tell someone something (e.g. tenant sync skipping a bad registry entry) uses `AlertRouter`.
"""

from platform_core.monitoring.budgets import throttle_tags, throttle_tenant
from platform_core.monitoring.channels import (
    Channel,
    EmailChannel,
    LogChannel,
    SlackApiChannel,
    SlackWebhookChannel,
    channels_from_env,
)
from platform_core.monitoring.incidents import Alert, AlertKind, AlertState, Incident, IncidentStore
from platform_core.monitoring.location import (
    LocationMonitor,
    MonitoredAsset,
    mesh_monitored_assets,
    monitored_assets,
)
from platform_core.monitoring.router import AlertRouter
from platform_core.monitoring.sensors import build_monitoring_sensors
from platform_core.monitoring.tenants import (
    TENANT_TAG,
    THROTTLED_TAG,
    StaticTenantDirectory,
    TenantDirectory,
    TenantProfile,
    tenant_pool,
)

__all__ = [
    "TENANT_TAG",
    "THROTTLED_TAG",
    "Alert",
    "AlertKind",
    "AlertRouter",
    "AlertState",
    "Channel",
    "EmailChannel",
    "Incident",
    "IncidentStore",
    "LocationMonitor",
    "LogChannel",
    "MonitoredAsset",
    "SlackApiChannel",
    "SlackWebhookChannel",
    "StaticTenantDirectory",
    "TenantDirectory",
    "TenantProfile",
    "build_monitoring_sensors",
    "channels_from_env",
    "default_tenant_directory",
    "mesh_monitored_assets",
    "monitored_assets",
    "profiles_from_registry_entries",
    "tenant_pool",
    "throttle_tags",
    "throttle_tenant",
]
