"""Products on the landed click-stream: sessions and last-touch attribution inputs."""

from platform_core import ProductContext, sql_product

SESSION_GAP = "30 minutes"


@sql_product("click_sessions")
def click_sessions(p: ProductContext) -> str:
    # A new session starts after SESSION_GAP without a click by the same customer.
    return f"""
        with ordered as (
            select tenant_id, customer_id, campaign_id, click_id, clicked_at,
                case when clicked_at - lag(clicked_at) over (
                    partition by tenant_id, customer_id order by clicked_at, click_id
                ) <= interval '{SESSION_GAP}' then 0 else 1 end as starts_session
            from {p.ref("marketing/click_events")}
        ),
        numbered as (
            select *, sum(starts_session) over (
                partition by tenant_id, customer_id order by clicked_at, click_id
                rows between unbounded preceding and current row
            ) as session_number
            from ordered
        )
        select
            tenant_id, customer_id, cast(session_number as bigint) as session_number,
            min(clicked_at) as session_start, max(clicked_at) as session_end,
            count(*) as clicks, count(distinct campaign_id) as campaigns
        from numbered
        group by tenant_id, customer_id, session_number
    """


@sql_product("click_touchpoints")
def click_touchpoints(p: ProductContext) -> str:
    return f"""
        select tenant_id, customer_id, campaign_id,
            cast(clicked_at as date) as touch_date,
            count(*) as clicks, max(clicked_at) as last_clicked_at
        from {p.ref("marketing/click_events")}
        group by tenant_id, customer_id, campaign_id, cast(clicked_at as date)
    """
