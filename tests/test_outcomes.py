"""The outcome registry reads the same numbers as sim.measures.metrics at the month asked for."""

from __future__ import annotations

import numpy as np
import pytest

from sim.calendar import parse_month
from sim.core.engine import simulate
from sim.measures import metrics
from sim.measures.outcomes import OUTCOMES, OutcomeError, evaluate, parse_outcome


@pytest.fixture(scope="module")
def results(small_scenario, seeds):
    return simulate(small_scenario, n_runs=4, seed=3, seeds=seeds)


def test_outcomes_match_metrics(results) -> None:
    names = ["gap_points@2026-12", "lag_months@end", "lag_months_cn@2027-01",
             "open_token_share@start", "frontier_open_cn@2026-10", "alive_open", "alive_closed"]
    out = evaluate(results, [parse_outcome(n) for n in names])
    step = parse_month("2026-12") - parse_month("2026-04")
    gaps, lags = metrics.gap_points(results), metrics.lag_by_pair(results)
    assert np.array_equal(out["gap_points@2026-12"], gaps["closed_vs_open"][:, step])
    assert np.array_equal(out["lag_months@end"], lags["closed_vs_open"][:, -1], equal_nan=True)
    assert np.array_equal(out["lag_months_cn@2027-01"], lags["closed_vs_cn"][:, 9],
                          equal_nan=True)
    assert np.array_equal(out["open_token_share@start"], metrics.open_token_share(results)[:, 0])
    assert np.array_equal(out["frontier_open_cn@2026-10"],
                          results.arrays["bench_frontier"][:, 6, 2])
    alive = results.arrays["alive"][:, -1]
    assert np.array_equal(out["alive_open@end"] + out["alive_closed@end"], alive.sum(axis=1))


def test_every_registered_outcome_is_finite_or_nan_per_run(results) -> None:
    out = evaluate(results, [parse_outcome(n) for n in OUTCOMES])
    for label, values in out.items():
        assert values.shape == (4,), label
        assert not np.any(np.isinf(values)), label


@pytest.mark.parametrize("text, message", [
    ("gap", "unknown name; allowed: gap_points"),
    ("gap_points@2027-13", "after '@' give a month"),
    ("gap_points@soon", "after '@' give a month"),
])
def test_bad_outcome_names(text: str, message: str) -> None:
    with pytest.raises(OutcomeError, match=message):
        parse_outcome(text)


def test_month_outside_horizon(results) -> None:
    with pytest.raises(OutcomeError, match="outside the horizon 2026-04..2027-06"):
        evaluate(results, [parse_outcome("gap_points@2030-01")])
