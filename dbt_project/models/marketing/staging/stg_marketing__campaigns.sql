select campaign_id, tenant_id, name as campaign_name, channel, started_on
from {{ source('marketing', 'campaigns') }}
