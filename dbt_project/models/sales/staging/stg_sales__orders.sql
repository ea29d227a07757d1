select
    order_id,
    tenant_id,
    customer_id,
    product_id,
    quantity,
    status,
    ordered_at,
    cast(ordered_at as date) as order_date
from {{ source('platform', 'tenant_orders') }}
