select
    cast(tenant_id as varchar) as tenant_id,
    cast(order_date as date) as order_date,
    cast(count(*) as bigint) as orders,
    cast(count(case when status = 'completed' then 1 end) as bigint) as completed_orders,
    cast(sum(case when status = 'completed' then amount else 0 end) as numeric(14, 2)) as revenue,
    cast(sum(case when status = 'refunded' then amount else 0 end) as numeric(14, 2)) as refunds
from {{ ref('orders') }}
group by tenant_id, order_date
