-- Version 1 of sales.orders (no category, no order day). Deprecated: read the latest version.
select
    cast(order_id as bigint) as order_id,
    cast(tenant_id as varchar) as tenant_id,
    cast(customer_id as bigint) as customer_id,
    cast(product_id as bigint) as product_id,
    cast(quantity as bigint) as quantity,
    cast(unit_price as numeric(12, 2)) as unit_price,
    cast(amount as numeric(12, 2)) as amount,
    cast(status as varchar) as status,
    cast(ordered_at as timestamp) as ordered_at
from {{ ref('int_sales__priced_orders') }}
