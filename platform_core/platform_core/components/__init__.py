"""The platform's Dagster Components (registered for `dg` through the registry_modules entry
point, so `dg list components`, `dg check yaml` and `dg scaffold defs` know them).

- `DataProducts`: a domain's product declarations (the YAML schema is the declaration) and
  their implementations, as assets with the standard checks.
- `DbtModels`: the domain's slice (dbt group) of the mesh's one dbt project.
- `KafkaStream`: a Kafka topic landed into a declared product by micro-batch runs.
- `TenantSync`: every registered tenant's database into its own warehouse schema.

Platform defaults (tags, owners, kinds, executor, automation and monitoring sensors) are not
set here: each location's root applies them once (platform_core.location).
"""

from platform_core.components.data_products import DataProducts
from platform_core.components.dbt_models import DbtModels
from platform_core.components.kafka_stream import KafkaStream
from platform_core.components.tenant_sync import TenantSync

__all__ = ["DataProducts", "DbtModels", "KafkaStream", "TenantSync"]
