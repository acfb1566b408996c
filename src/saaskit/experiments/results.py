"""An experiment's results for an event metric: counts in SQL, statistics from GrowthBook's
``gbstats`` (not hand-written formulas).

- Exposures: users assigned to the variant (``experiment_assignments``).
- Conversions: those of them with at least one event of the metric's name at or after their
  assignment (and, once stopped, no later than the experiment's end): one per user however many
  events they sent.
- Against the control (variant 0), per variant: relative uplift with its 95% interval and the
  two-sided p-value (gbstats ``TwoSidedTTest``), chance to beat the control and risk (gbstats
  ``EffectBayesianABTest``); over all variants, the sample-ratio-mismatch p-value of the exposures
  against the weights (gbstats ``check_srm``), flagged below 0.001 as GrowthBook does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.experiments.models import Experiment
from saaskit.experiments.schemas import Metric

SRM_THRESHOLD = 0.001

COUNTS_SQL = text("""
SELECT a.variant_index,
       count(*) AS exposures,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM events e
         WHERE e.organization_id = a.organization_id AND e.user_id = a.user_id
           AND e.event_name = :event AND e.timestamp >= a.assigned_at
           AND (CAST(:end_date AS timestamptz) IS NULL OR e.timestamp <= :end_date)
       )) AS conversions
FROM experiment_assignments a
WHERE a.experiment_id = :experiment_id
GROUP BY a.variant_index
""")


class VariantResult(BaseModel):
    key: str
    name: str
    weight: float = Field(description="The variant's planned share, 0-1.")
    exposures: int = Field(description="Users assigned to the variant.")
    conversions: int = Field(description="Of them, users who sent the event after their assignment.")
    conversion_rate: float | None = Field(description="conversions / exposures; None without exposures.")
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
    srm_p_value: float = Field(description="Sample-ratio-mismatch p-value (exposures vs weights).")
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


async def compute(
    session: AsyncSession, experiment: Experiment, metric: Metric, *, end: datetime | None
) -> ResultsOut:
    rows = (
        await session.execute(
            COUNTS_SQL, {"experiment_id": experiment.id, "event": metric.event, "end_date": end}
        )
    ).all()
    # gbstats pulls in scipy and numpy: imported when results are asked for, not at startup.
    from gbstats.models.statistics import ProportionStatistic
    from gbstats.utils import check_srm

    counts = {int(r.variant_index): (int(r.exposures), int(r.conversions)) for r in rows}
    stats = [
        ProportionStatistic(n=counts.get(i, (0, 0))[0], sum=counts.get(i, (0, 0))[1])
        for i in range(len(experiment.variants))
    ]
    variants = []
    for i, variant in enumerate(experiment.variants):
        n, conversions = counts.get(i, (0, 0))
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
                exposures=n,
                conversions=conversions,
                conversion_rate=conversions / n if n else None,
                **figures,
            )
        )
    srm = float(check_srm([s.n for s in stats], [float(v["weight"]) for v in experiment.variants]))
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
