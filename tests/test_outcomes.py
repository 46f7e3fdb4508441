"""Sweep outcomes ``NAME@WHEN`` read the measure registry at the month asked for."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from sim.calendar import parse_month
from sim.core.engine import simulate
from sim.measures import registry
from sim.measures.outcomes import OutcomeError, evaluate, parse_outcome
from sim.vocab import CAMPS, OPEN_CAMPS


@pytest.fixture(scope="module")
def results(small_scenario, seeds):
    return simulate(small_scenario, n_runs=4, seed=3, seeds=seeds)


def test_outcomes_read_the_registry(results) -> None:
    names = ["gap_points@2026-12", "lag_months@end", "lag_months_cn@2027-01",
             "open_token_share@start", "frontier_open_cn@2026-10", "alive_open", "alive_closed",
             "gap_points[cn_vs_us]@end", "token_share[agentic_coding,open]@2026-05"]
    out = evaluate(results, [parse_outcome(n) for n in names])
    step = parse_month("2026-12") - parse_month("2026-04")
    gaps = registry.MEASURES["gap_points"].series(results)  # (R, T, pairs)
    lags = registry.MEASURES["lag_months"].series(results)
    shares = registry.MEASURES["token_share"].series(results)  # (R, T, K+1, C4)
    assert np.array_equal(out["gap_points@2026-12"], gaps[:, step, 0])
    assert np.array_equal(out["gap_points[cn_vs_us]@end"], gaps[:, -1, 3])
    assert np.array_equal(out["lag_months@end"], lags[:, -1, 0], equal_nan=True)
    assert np.array_equal(out["lag_months_cn@2027-01"], lags[:, 9, 1], equal_nan=True)
    open_cols = [CAMPS.index(c) for c in OPEN_CAMPS]
    assert np.array_equal(out["open_token_share@start"],
                          shares[:, 0, -1, open_cols].sum(axis=1))
    k = results.world.population.segments.index("agentic_coding")
    assert np.array_equal(out["token_share[agentic_coding,open]@2026-05"], shares[:, 1, k, -1])
    assert np.array_equal(out["frontier_open_cn@2026-10"],
                          results.arrays["bench_frontier"][:, 6, 2])
    alive = results.arrays["alive"][:, -1]
    assert np.array_equal(out["alive_open@end"] + out["alive_closed@end"], alive.sum(axis=1))


def test_every_scalar_measure_is_an_outcome_finite_or_nan_per_run(results) -> None:
    out = evaluate(results, [parse_outcome(m.name) for m in registry.scalar_series()])
    for label, values in out.items():
        assert values.shape == (4,), label
        assert not np.any(np.isinf(values)), label


def test_outcomes_pickle_for_sweep_workers(results) -> None:
    spec = parse_outcome("gap_points_cn@2027-01")
    again = pickle.loads(pickle.dumps(spec))
    assert again.label == spec.label and again.unit == "ECI points"
    assert np.array_equal(evaluate(results, [again])[spec.label],
                          evaluate(results, [spec])[spec.label])


@pytest.mark.parametrize(("text", "message"), [
    ("nope@end", "unknown name; allowed: gap_points, lag_months"),
    ("gap_points@2027-13", "after '@' give a month"),
    ("", "expected a string"),
    ("token_share@end", "pick one label per dim: token_share[segment,camp]"),
    ("gap_points[closed_vs_mars]@end", "unknown pair 'closed_vs_mars'; allowed: closed_vs_open"),
])
def test_bad_outcome_names(text: str, message: str) -> None:
    with pytest.raises(OutcomeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_outcome(text)


def test_month_outside_horizon(results) -> None:
    spec = parse_outcome("gap_points@2031-01")
    with pytest.raises(OutcomeError, match="outside the horizon"):
        evaluate(results, [spec])
