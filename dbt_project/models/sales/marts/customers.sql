select
    cast(c.customer_id as bigint) as customer_id,
    cast(c.tenant_id as varchar) as tenant_id,
    cast(c.country as varchar) as country,
    cast(c.created_at as timestamp) as created_at,
    cast(count(o.order_id) as bigint) as orders,
    cast(coalesce(sum(case when o.status = 'completed' then o.amount end), 0) as numeric(14, 2))
        as lifetime_revenue,
    cast(min(o.ordered_at) as timestamp) as first_order_at
from {{ ref('stg_sales__customers') }} as c
left join {{ ref('int_sales__priced_orders') }} as o
    on o.customer_id = c.customer_id and o.tenant_id = c.tenant_id
group by c.customer_id, c.tenant_id, c.country, c.created_at
