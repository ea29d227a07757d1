select campaign_id, tenant_id, spend_date, spend, impressions
from {{ source('marketing', 'ad_spend') }}
