"""The Billing page's revenue figures (``billing.revenue``) and their chart."""

from __future__ import annotations

from typing import Any

from saaskit.admin.charts import chart, series
from saaskit.billing.revenue import MonthFigures


def revenue_chart(months: list[MonthFigures]) -> dict[str, Any]:
    """MRR as a line; new and expansion MRR up, contraction and churned MRR down, as bars."""
    labels = [m.month for m in months]
    return chart(
        "bar",
        labels,
        series("MRR", [m.mrr_cents / 100 for m in months], type="line", tension=0),
        series("New", [m.new_mrr_cents / 100 for m in months], stack="moves"),
        series("Expansion", [m.expansion_mrr_cents / 100 for m in months], stack="moves"),
        series("Contraction", [-m.contraction_mrr_cents / 100 for m in months], stack="moves"),
        series("Churned", [-m.churned_mrr_cents / 100 for m in months], stack="moves"),
        options={"scales": {"x": {"stacked": True}, "y": {"stacked": True}}},
    )
