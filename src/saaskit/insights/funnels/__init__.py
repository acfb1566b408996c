"""Conversion funnels over ``events`` (seed 004's ``conversion_funnels``): definitions, the
computation, stored progress. Definitions in docs/statistics.md, "Funnels".

For page handlers: ``compute_funnel(session, definition, start, end, tz) -> FunnelResult``
(read-only) and ``compute_and_store(session, funnel, start, end, tz) -> FunnelResult``.
"""

from saaskit.insights.funnels.compute import FunnelResult, compute_funnel
from saaskit.insights.funnels.definition import FunnelDefinition, OrderMode, Step
from saaskit.insights.funnels.progress import Progress, StepResult
from saaskit.insights.funnels.storage import compute_and_store, definition_of, results

__all__ = [
    "FunnelDefinition",
    "FunnelResult",
    "OrderMode",
    "Progress",
    "Step",
    "StepResult",
    "compute_and_store",
    "compute_funnel",
    "definition_of",
    "results",
]
