"""Sales products: SQL that runs inside the warehouse (DuckDB locally, Snowflake in prod)."""

from platform_core import ProductContext, sql_product


@sql_product("orders")
def orders(p: ProductContext) -> str:
    return f"""
        select
            o.order_id, o.tenant_id, o.customer_id, o.product_id, pr.category,
            o.quantity, pr.unit_price,
            cast(o.quantity * pr.unit_price as decimal(12, 2)) as amount,
            o.status, o.ordered_at,
            cast(o.ordered_at as date) as order_date
        from {p.ref("platform/tenant_orders")} as o
        join {p.ref("platform/tenant_products")} as pr
            on pr.product_id = o.product_id and pr.tenant_id = o.tenant_id
    """


@sql_product("customers")
def customers(p: ProductContext) -> str:
    return f"""
        select
            c.customer_id, c.tenant_id, c.country, c.created_at,
            count(o.order_id) as orders,
            cast(coalesce(sum(case when o.status = 'completed' then o.amount end), 0)
                 as decimal(14, 2)) as lifetime_revenue,
            min(o.ordered_at) as first_order_at
        from {p.ref("platform/tenant_customers")} as c
        left join {p.ref("sales/orders")} as o
            on o.customer_id = c.customer_id and o.tenant_id = c.tenant_id
        group by c.customer_id, c.tenant_id, c.country, c.created_at
    """


@sql_product("daily_revenue")
def daily_revenue(p: ProductContext) -> str:
    return f"""
        select
            tenant_id, order_date,
            count(*) as orders,
            count(case when status = 'completed' then 1 end) as completed_orders,
            cast(sum(case when status = 'completed' then amount else 0 end) as decimal(14, 2))
                as revenue,
            cast(sum(case when status = 'refunded' then amount else 0 end) as decimal(14, 2))
                as refunds
        from {p.ref("sales/orders")}
        group by tenant_id, order_date
    """
