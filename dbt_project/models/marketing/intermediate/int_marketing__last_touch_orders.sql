-- Completed orders attributed by last touch: the customer's latest click on a campaign in the
-- attribution window (7 days) before the order. Reads sales' public `orders` product.
select o.tenant_id, o.order_id, o.amount, k.campaign_id
from {{ ref('orders') }} as o
join {{ ref('stg_marketing__clicks') }} as k
    on k.tenant_id = o.tenant_id
    and k.customer_id = o.customer_id
    and k.clicked_at <= o.ordered_at
    and k.clicked_at > o.ordered_at - interval '{{ var("attribution_window_days", 7) }} days'
where o.status = 'completed'
qualify row_number() over (
    partition by o.order_id order by k.clicked_at desc, k.click_id desc
) = 1
