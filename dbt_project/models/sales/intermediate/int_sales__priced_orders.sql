-- Orders priced in USD with the product's category: the base of every sales mart.
select
    o.order_id,
    o.tenant_id,
    o.customer_id,
    o.product_id,
    p.category,
    o.quantity,
    p.unit_price,
    cast(o.quantity * p.unit_price as numeric(12, 2)) as amount,
    o.status,
    o.ordered_at,
    o.order_date
from {{ ref('stg_sales__orders') }} as o
join {{ ref('stg_sales__products') }} as p
    on p.product_id = o.product_id and p.tenant_id = o.tenant_id
