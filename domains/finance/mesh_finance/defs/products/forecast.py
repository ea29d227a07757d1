"""Finance products in Python; billing itself is SQL in dbt (dbt_project/models/finance/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_core import ProductContext, python_product

if TYPE_CHECKING:
    import pandas as pd


@python_product("revenue_forecast")
def revenue_forecast(p: ProductContext) -> pd.DataFrame:
    """Next month's completed revenue per tenant: a least-squares line through its months."""
    import numpy as np  # imported by the run, not by the location's load (pandas: ~1 s)
    import pandas as pd

    monthly = pd.DataFrame(
        p.session.fetch(
            "select tenant_id, cast(date_trunc('month', order_date) as date) as month, "
            f"sum(revenue) as revenue from {p.ref('sales/daily_revenue')} group by 1, 2"
        ),
        columns=["tenant_id", "month", "revenue"],
    )
    rows = []
    for tenant_id, history in monthly.sort_values("month").groupby("tenant_id"):
        revenue = history["revenue"].astype(float).to_numpy()
        months = np.arange(len(revenue))
        slope, intercept = np.polyfit(months, revenue, 1) if len(revenue) > 1 else (0.0, revenue[0])
        next_month = (pd.Period(history["month"].iloc[-1], "M") + 1).to_timestamp().date()
        rows.append(
            {
                "tenant_id": tenant_id,
                "forecast_month": next_month,
                "months_observed": len(revenue),
                "forecast_revenue": round(max(0.0, slope * len(revenue) + intercept), 2),
                "monthly_trend": round(float(slope), 2),
            }
        )
    return pd.DataFrame(rows)
