select product_id, tenant_id, category, unit_price
from {{ source('platform', 'tenant_products') }}
