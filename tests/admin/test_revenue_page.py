"""The Billing page's revenue figures and refused usage records in a real browser: the chart draws, the table shows what
``billing.revenue`` computes (itself checked against a plain-Python reference in
tests/billing/test_revenue.py), on the demo's subscriptions and invoices."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from saaskit.admin.queries.revenue import metering
from saaskit.billing import revenue
from saaskit.kit.db import SERVICE
from tests.admin.conftest import Problems, Site

pytestmark = pytest.mark.live


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"${cents / 100:,.2f}"


async def test_revenue_table_and_chart(admin_site: Site, page: tuple[Page, Problems]) -> None:
    tab, problems = page
    answer = await tab.goto(f"{admin_site.base}/admin/billing")
    assert answer is not None and answer.status == 200
    await expect(tab.locator("#revenue-chart")).to_have_attribute("data-drawn", "1")
    async with admin_site.runtime.db.session(SERVICE) as session:
        months = await revenue.monthly(session, 12)
    assert len(months) == 12 and any(m.mrr_cents > 0 for m in months)
    for m in months[-3:]:
        row = tab.locator(f'#revenue-table tr[data-month="{m.month}"] td')
        expected = [
            m.month,
            _money(m.mrr_cents),
            _money(m.arr_cents),
            _money(m.new_mrr_cents),
            _money(m.expansion_mrr_cents),
            _money(m.contraction_mrr_cents),
            _money(m.churned_mrr_cents),
            f"{m.paying_accounts:,}",
            f"{m.churned_accounts:,}",
            _money(m.arpu_cents),
            _money(m.ltv_cents),
            _money(m.credit_purchases_cents),
        ]
        await expect(row).to_have_text(expected)
    # The demo's refused usage records, with Stripe's answer (demo/metering.py).
    async with admin_site.runtime.db.session(SERVICE) as session:
        view = await metering(session)
    assert view.problems
    first = view.problems[0]
    await expect(tab.locator("#metering tbody tr").first).to_contain_text(str(first.stripe_error))
    await expect(tab.locator("#metering")).to_contain_text(f"{view.pending_due:,} record")
    assert not problems, problems
