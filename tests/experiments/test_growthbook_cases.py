"""GrowthBook's own cross-SDK cases (growthbook_cases.json, vendored with its source and licence)
run against saaskit's assignment and targeting.

Sections of GrowthBook's cases.json not vendored, and why:
- ``feature``, ``stickyBucket``: a client SDK's feature evaluation and sticky-bucket documents;
  saaskit serves the features (checked with the ``growthbook`` package itself in
  test_features_endpoint.py) and records assignments in its own table instead.
- ``getQueryStringOverride``, ``urlRedirect``, ``decrypt``, ``getEqualWeights``: browser URL
  overrides and redirects, encrypted payloads: nothing a server assigns with.
- ``run`` cases "querystring force" and "querystring force with inactive" (URL overrides) and
  "Prerequisite condition passes/fails" (prerequisite feature flags, not built).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from saaskit.experiments.bucketing import bucket_ranges, choose_variation, gb_hash, in_namespace, run
from saaskit.experiments.conditions import eval_condition, padded_version

CASES: dict[str, Any] = json.loads((Path(__file__).parent / "growthbook_cases.json").read_text())


def _ids(section: list[list[Any]]) -> list[str]:
    return [str(case[0]) for case in section]


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_hash(seed: str, value: str, version: int, expected: float | None) -> None:
    assert gb_hash(seed, value, version) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("name", "args", "expected"), CASES["getBucketRange"], ids=_ids(CASES["getBucketRange"])
)
def test_bucket_ranges(name: str, args: list[Any], expected: list[list[float]]) -> None:
    ranges = bucket_ranges(args[0], args[1], args[2])
    assert [list(r) for r in ranges] == [pytest.approx(r) for r in expected]


@pytest.mark.parametrize(
    ("name", "n", "ranges", "expected"), CASES["chooseVariation"], ids=_ids(CASES["chooseVariation"])
)
def test_choose_variation(name: str, n: float, ranges: list[list[float]], expected: int) -> None:
    assert choose_variation(n, ranges) == expected


@pytest.mark.parametrize(
    ("name", "user", "namespace", "expected"), CASES["inNamespace"], ids=_ids(CASES["inNamespace"])
)
def test_in_namespace(name: str, user: str, namespace: list[Any], expected: bool) -> None:
    assert in_namespace(user, namespace) is expected


@pytest.mark.parametrize(
    ("name", "condition", "attributes", "expected"), CASES["evalCondition"], ids=_ids(CASES["evalCondition"])
)
def test_eval_condition(
    name: str, condition: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    assert eval_condition(attributes, condition) is expected


VERSION_CASES = [
    (op, a, b, expected) for op, cases in CASES["versionCompare"].items() for a, b, expected in cases
]


@pytest.mark.parametrize(("op", "a", "b", "expected"), VERSION_CASES)
def test_version_compare(op: str, a: str, b: str, expected: bool) -> None:
    pa, pb = padded_version(a), padded_version(b)
    actual = {"lt": pa < pb, "gt": pa > pb, "eq": pa == pb}[op]
    assert actual is expected


@pytest.mark.parametrize(
    ("name", "context", "experiment", "value", "in_experiment", "hash_used"),
    CASES["run"],
    ids=_ids(CASES["run"]),
)
def test_run(
    name: str,
    context: dict[str, Any],
    experiment: dict[str, Any],
    value: Any,
    in_experiment: bool,
    hash_used: bool,
) -> None:
    result = run(
        experiment,
        context.get("attributes", {}),
        enabled=context.get("enabled", True),
        forced_variations=context.get("forcedVariations"),
        qa_mode=context.get("qaMode", False),
    )
    assert (result.value, result.in_experiment, result.hash_used) == (value, in_experiment, hash_used)


def test_every_vendored_section_is_run() -> None:
    """A section added to the JSON without a test would silently check nothing."""
    tested = {
        "hash",
        "getBucketRange",
        "chooseVariation",
        "inNamespace",
        "evalCondition",
        "versionCompare",
        "run",
    }
    assert set(CASES) - {"_source", "specVersion"} == tested
    assert len(CASES["run"]) == 68 and len(CASES["evalCondition"]) >= 140
