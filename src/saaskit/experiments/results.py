"""An experiment's results for one metric: sums per variant in SQL (``metrics``), statistics
from GrowthBook's ``gbstats`` (not hand-written formulas).

- Exposures: people assigned to the variant (for retention, those whose window has ended).
- Per person, the metric's value (``metrics``): 0/1 for a conversion (event, funnel, retention:
  gbstats ``ProportionStatistic``), a count or amount for a mean (mean, revenue:
  ``SampleMeanStatistic`` from the sum and sum of squares).
- Against the control (variant 0), per variant: relative uplift with its 95% interval and the
  two-sided p-value (gbstats ``TwoSidedTTest``), chance to beat the control and risk (gbstats
  ``EffectBayesianABTest``); over all variants, the sample-ratio-mismatch p-value of the people
  assigned against the weights (gbstats ``check_srm``), flagged below 0.001 as GrowthBook does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.experiments import metrics
from saaskit.experiments.models import Experiment
from saaskit.experiments.schemas import PROPORTION_KINDS, Metric

SRM_THRESHOLD = 0.001


class VariantResult(BaseModel):
    key: str
    name: str
    weight: float = Field(description="The variant's planned share, 0-1.")
    exposures: int = Field(description="Users assigned to the variant.")
    conversions: int = Field(
        description="Of them, people who converted (event, funnel, retention) or had a value above 0."
    )
    conversion_rate: float | None = Field(description="conversions / exposures; None without exposures.")
    total: float = Field(default=0.0, description="Sum of the values (mean, revenue: events, amount).")
    mean: float | None = Field(
        default=None,
        description="Value per exposed person (the rate for a conversion); None without exposures.",
    )
    uplift: float | None = Field(description="Relative change of the rate against the control (0.1 = +10%).")
    ci_low: float | None = Field(description="Lower end of the uplift's 95% confidence interval.")
    ci_high: float | None = Field(description="Upper end of the uplift's 95% confidence interval.")
    p_value: float | None = Field(description="Two-sided p-value of the difference with the control.")
    chance_to_beat_control: float | None = Field(description="Bayesian chance the variant is better, 0-1.")
    risk: float | None = Field(description="Expected relative loss if this variant is chosen and is worse.")


class ResultsOut(BaseModel):
    experiment_id: uuid.UUID
    metric: Metric
    status: str
    final: bool = Field(description="True when these are the results kept when the experiment stopped.")
    srm_p_value: float = Field(description="Sample-ratio-mismatch p-value (people assigned vs weights).")
    srm_mismatch: bool = Field(description="srm_p_value < 0.001: the split is not the planned one.")
    variants: list[VariantResult]


def _statistics(control: Any, variant: Any) -> dict[str, float | None]:
    from gbstats.bayesian.tests import EffectBayesianABTest
    from gbstats.frequentist.tests import TwoSidedTTest

    empty: dict[str, float | None] = dict.fromkeys(
        ("uplift", "ci_low", "ci_high", "p_value", "chance_to_beat_control", "risk")
    )
    # A relative uplift needs a control rate above 0, and both groups need users.
    if control.n < 2 or variant.n < 2 or control.sum == 0:
        return empty
    frequentist = TwoSidedTTest(control, variant).compute_result()
    bayesian = EffectBayesianABTest(control, variant).compute_result()
    if frequentist.error_message or bayesian.error_message:
        return empty
    return {
        "uplift": float(frequentist.expected),
        "ci_low": float(frequentist.ci[0]),
        "ci_high": float(frequentist.ci[1]),
        "p_value": float(frequentist.p_value),
        "chance_to_beat_control": float(bayesian.chance_to_win),
        "risk": float(bayesian.risk[1]),
    }


def _statistic(metric: Metric, sums: metrics.Sums) -> Any:
    from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic

    if metric.kind in PROPORTION_KINDS:
        return ProportionStatistic(n=sums.n, sum=sums.total)
    return SampleMeanStatistic(n=sums.n, sum=sums.total, sum_squares=sums.squares)


async def compute(
    session: AsyncSession, experiment: Experiment, metric: Metric, *, end: datetime | None
) -> ResultsOut:
    until = end or await session.scalar(text("SELECT now()"))
    assert until is not None
    per_variant = await metrics.sums(session, experiment, metric, until=until)
    assigned = await metrics.assigned_counts(session, experiment)
    # gbstats pulls in scipy and numpy: imported when results are asked for, not at startup.
    from gbstats.utils import check_srm

    empty = metrics.Sums(0, 0.0, 0.0, 0)
    stats = [_statistic(metric, per_variant.get(i, empty)) for i in range(len(experiment.variants))]
    variants = []
    for i, variant in enumerate(experiment.variants):
        sums = per_variant.get(i, empty)
        figures = (
            _statistics(stats[0], stats[i])
            if i > 0
            else dict.fromkeys(("uplift", "ci_low", "ci_high", "p_value", "chance_to_beat_control", "risk"))
        )
        variants.append(
            VariantResult(
                key=variant["key"],
                name=variant["name"],
                weight=float(variant["weight"]),
                exposures=sums.n,
                conversions=sums.converted,
                conversion_rate=sums.converted / sums.n if sums.n else None,
                total=sums.total,
                mean=sums.total / sums.n if sums.n else None,
                **figures,
            )
        )
    counts = [assigned.get(i, 0) for i in range(len(experiment.variants))]
    srm = float(check_srm(counts, [float(v["weight"]) for v in experiment.variants]))
    return ResultsOut(
        experiment_id=experiment.id,
        metric=metric,
        status=experiment.status,
        final=False,
        srm_p_value=srm,
        srm_mismatch=srm < SRM_THRESHOLD,
        variants=variants,
    )


def as_json(results: ResultsOut) -> dict[str, Any]:
    return results.model_dump(mode="json")
