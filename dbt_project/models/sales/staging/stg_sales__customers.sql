select customer_id, tenant_id, country, created_at
from {{ source('platform', 'tenant_customers') }}
