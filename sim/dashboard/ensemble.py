"""The dashboard's ensemble: N runs of a scenario summarised into 10/50/90% bands.

:func:`recompute` is what the page calls after a control changes (and what
``experiments/bench_app.py`` times): apply the controls to the scenario, simulate ``n_runs``
runs with :func:`sim.core.engine.simulate`, and keep only quantiles over runs of the headline
series (measures of :mod:`sim.measures.registry`), so the page holds a few kilobytes per
ensemble rather than the raw arrays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from sim.calendar import to_datetime64
from sim.core.engine import simulate
from sim.core.parameter_draws import band_note
from sim.dashboard.settings import Settings, apply_settings, settings_summary
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.measures import metrics
from sim.measures.registry import MEASURES, PAIR

#: Quantiles drawn: the band's edges and the median line.
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Bands:
    """Quantiles :data:`QUANTILES` over runs (axis 0, length 3) of the headline series.

    ``frontier`` (3, T, C5): released bench frontier per output camp (``OUTPUT_CAMPS``), ECI
    points. ``gap`` / ``lag``: per camp pair of :data:`sim.vocab.PAIRS`, (3, T),
    ECI points and months. ``open_token_share`` / ``open_dollar_share`` (3, T): share of all
    tokens / of all buyer spend on open-weight models. ``alive`` (3, T, C4): labs operating per lab
    camp (``CAMPS``). ``dates`` (T,): first day of each simulated month. ``seconds``: wall
    time of the simulation and summary.
    """

    label: str
    n_runs: int
    seed: int
    dates: np.ndarray
    frontier: np.ndarray
    gap: dict[str, np.ndarray]
    lag: dict[str, np.ndarray]
    open_token_share: np.ndarray
    open_dollar_share: np.ndarray
    alive: np.ndarray
    seconds: float
    #: What the bands are (:func:`sim.core.parameter_draws.band_note`): "10-90% over N runs"
    #: at fixed parameters or with parameters drawn from the posterior.
    note: str = ""


def ensemble_bands(scenario: Scenario, seeds: Seeds, *, n_runs: int, seed: int,
                   label: str | None = None) -> Bands:
    """Simulate runs 0..n_runs-1 of ``scenario`` under ``seed`` and summarise them."""
    t0 = time.perf_counter()
    results = simulate(scenario, n_runs=n_runs, seed=seed, seeds=seeds)

    def _by_pair(name: str) -> list[np.ndarray]:
        values = MEASURES[name].series(results)  # (R, T, pairs)
        return [values[:, :, i] for i in range(values.shape[2])]

    def q(x: np.ndarray) -> np.ndarray:
        # np.nanquantile loops over columns in Python when any NaN is present; most series
        # have none, and for them np.quantile is the same number, vectorized.
        x = np.asarray(x, dtype=float)
        if np.isnan(x).any():
            return metrics.quantiles(x, QUANTILES)
        return np.quantile(x, QUANTILES, axis=0)

    bands = Bands(
        label=label or scenario.name,
        n_runs=n_runs,
        seed=seed,
        dates=to_datetime64(results.world.params.start_month, results.n_months),
        frontier=q(MEASURES["bench_frontier"].series(results)),
        gap={pair: q(v) for pair, v in zip(PAIR.labels, _by_pair("gap_points"), strict=True)},
        lag={pair: q(v) for pair, v in zip(PAIR.labels, _by_pair("lag_months"), strict=True)},
        open_token_share=q(MEASURES["open_token_share"].series(results)),
        open_dollar_share=q(MEASURES["open_dollar_share"].series(results)),
        alive=q(MEASURES["alive"].series(results)),
        seconds=0.0,
        note=band_note(scenario, n_runs),
    )
    return replace(bands, seconds=time.perf_counter() - t0)


def recompute(base: Scenario, seeds: Seeds, settings: Settings) -> tuple[Scenario, Bands]:
    """What the page does after a control changes: the scenario the controls ``settings``
    describe on top of scenario ``base``, and its ensemble's bands."""
    scenario = apply_settings(base, settings)
    label = f"{settings.scenario}: {settings_summary(base, settings)}"
    bands = ensemble_bands(scenario, seeds, n_runs=settings.n_runs, seed=settings.seed,
                           label=label)
    return scenario, bands
