select click_id, tenant_id, campaign_id, customer_id, clicked_at
from {{ source('marketing', 'clicks') }}
