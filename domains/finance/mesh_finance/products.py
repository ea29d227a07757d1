"""Finance products: per-tenant monthly billing as warehouse SQL."""

from platform_core import ProductContext, sql_product

# plan -> (monthly subscription fee in USD, transaction fee rate on GMV)
PRICING = {"starter": (29, "0.029"), "growth": (99, "0.025"), "enterprise": (499, "0.019")}


def _by_plan(column: int) -> str:
    cases = " ".join(f"when '{plan}' then {terms[column]}" for plan, terms in PRICING.items())
    return f"case t.plan {cases} end"


@sql_product("tenant_billing")
def tenant_billing(p: ProductContext) -> str:
    return f"""
        with revenue as (
            select tenant_id, cast(date_trunc('month', order_date) as date) as billing_month,
                   sum(revenue) as gmv
            from {p.ref("sales/daily_revenue")}
            group by tenant_id, cast(date_trunc('month', order_date) as date)
        ),
        ads as (
            select tenant_id, cast(date_trunc('month', spend_date) as date) as billing_month,
                   sum(spend) as ad_spend
            from {p.ref("marketing/campaign_spend")}
            group by tenant_id, cast(date_trunc('month', spend_date) as date)
        ),
        months as (
            select tenant_id, billing_month from revenue
            union
            select tenant_id, billing_month from ads
        ),
        charges as (
            select
                m.tenant_id, m.billing_month, t.plan,
                cast(coalesce(r.gmv, 0) as decimal(14, 2)) as gmv,
                cast({_by_plan(0)} as decimal(14, 2)) as subscription_fee,
                cast(round(coalesce(r.gmv, 0) * {_by_plan(1)}, 2) as decimal(14, 2))
                    as transaction_fees,
                cast(coalesce(a.ad_spend, 0) as decimal(14, 2)) as ad_spend_rebilled
            from months as m
            join {p.ref("platform/tenants")} as t on t.tenant_id = m.tenant_id
            left join revenue as r
                on r.tenant_id = m.tenant_id and r.billing_month = m.billing_month
            left join ads as a
                on a.tenant_id = m.tenant_id and a.billing_month = m.billing_month
        )
        select *,
            cast(subscription_fee + transaction_fees + ad_spend_rebilled as decimal(14, 2))
                as total_due
        from charges
    """
