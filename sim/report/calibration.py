"""The posterior folder ``opengap calibrate`` writes, and its report.

* ``posterior.parquet``: one row per particle: ``particle`` (0..N-1), one float64 column per
  calibrated parameter (its scenario dotted path, schema units), ``weight`` (sums to 1).
* ``posterior.json``: the manifest (format ``opengap-posterior/1``: scenario, cut, data,
  statistics, distance, priors, seed, population size, generations, library, elapsed time,
  label).
* ``posterior.png``: each parameter's posterior marginal over its prior, and the strongest
  posterior correlations; ``fit.png``: the posterior predictive bands against the ECI record.
* ``report.md``: prior vs posterior, the data, the generations, the fit.

Fit statistics of the posterior predictive (median and 10-90% band over its runs):
RMSE ``sqrt(mean_t (median_t - observed_t)^2)`` over the months with an observed value (ECI
points), and band coverage, the share of those months with ``q10 <= observed <= q90``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim.calendar import format_month, to_datetime64  # noqa: E402
from sim.core.engine import Results  # noqa: E402
from sim.files import write_text_atomic  # noqa: E402
from sim.inputs.packaged import REPO_DIR  # noqa: E402
from sim.inputs.scenario import Scenario  # noqa: E402
from sim.inputs.seeds import EciHistory  # noqa: E402
from sim.report.figures import (  # noqa: E402
    CAMP_COLORS,
    CAMP_LABELS,
    EPOCH_CREDIT,
    add_footnote,
    save_figure,
)
from sim.studies.calibration.data import (  # noqa: E402
    DISTANCE_TEXT,
    ECONOMIC_UNITS,
    STATISTICS_TEXT,
    simulated,
)
from sim.studies.calibration.predictive import (  # noqa: E402
    weighted_corr,
    weighted_mean,
    weighted_quantile,
)
from sim.studies.calibration.priors import scipy_prior  # noqa: E402
from sim.studies.calibration.smc import CalibrationResult  # noqa: E402
from sim.vocab import OUTPUT_CAMPS  # noqa: E402

FORMAT = "opengap-posterior/1"
#: Correlations listed and drawn: the strongest pairs by |r|.
TOP_CORRELATIONS = 6
#: Share of a parameter's prior range its 90% posterior interval may span before the report
#: calls it weakly identified by the data.
WEAK_SHARE = 0.8


def parameter_unit(path: str) -> str:
    """The unit a schema field's description ends with (``[unit]``), or ''."""
    table, name = path.split(".", 1)
    model = Scenario.model_fields[table].annotation
    description = model.model_fields[name].description or ""  # type: ignore[union-attr]
    match = re.search(r"\[([^\]]+)\]\s*$", description)
    return match.group(1) if match else ""


def _relative(path: Path | str) -> str:
    path = Path(path)
    if path.is_absolute() and path.is_relative_to(REPO_DIR):
        return str(path.relative_to(REPO_DIR))
    return str(path)


def label_of(result: CalibrationResult) -> str:
    spec = result.spec
    what = "the ECI record" + (" and economic series" if spec.observations else "")
    return f"calibrated on {what} through {spec.cut_label}"


# --------------------------------------------------------------------------- posterior files


def posterior_frame(result: CalibrationResult) -> pd.DataFrame:
    frame = pd.DataFrame({"particle": np.arange(len(result.weights), dtype=np.int64)})
    for i, name in enumerate(result.names):
        frame[name] = result.values[:, i].astype(np.float64)
    frame["weight"] = result.weights.astype(np.float64)
    return frame


def manifest(result: CalibrationResult, elapsed: float) -> dict[str, Any]:
    spec = result.spec
    import pyabc

    data: list[dict[str, Any]] = [
        {"series": f"eci_{name}", "months": sorted({format_month(s.month)
                                                     for s in result.stats
                                                     if s.series == name}),
         "unit": "ECI points", "source": "Epoch AI Capabilities Index record, "
         "seeds/derived/eci_frontier_monthly.csv"} for name in spec.eci_series]
    for name in dict.fromkeys(r.series for r in spec.observations):
        rows = [r for r in spec.observations if r.series == name]
        data.append({"series": name, "months": [r.month for r in rows],
                     "unit": rows[0].unit, "statistic_unit": ECONOMIC_UNITS[name],
                     "source": "seeds/observations/economic.csv: "
                     + " | ".join(r.source for r in rows)})
    return {
        "format": FORMAT,
        "scenario": {"name": spec.scenario.name, "sha256": spec.full_scenario.content_hash(),
                     "path": _relative(spec.scenario_path)},
        "spec": {"path": _relative(spec.source), "sha256": spec.digest},
        "cut": spec.cut_label,
        "data": data,
        "statistics": STATISTICS_TEXT.format(every=spec.eci_every_months),
        "statistics_detail": [
            {"name": s.name, "observed": s.observed, "scale": float(sc), "weight": float(w)}
            for s, sc, w in zip(result.stats, result.distance.scale, result.distance.weight,
                                strict=True)],
        "distance": DISTANCE_TEXT,
        "priors": {p.path: p.as_dict() for p in spec.priors},
        "seed": spec.seed,
        "population_size": spec.population_size,
        "batch_size": spec.batch_size,
        "generations": [g.as_dict() for g in result.generations],
        "stopped": result.stopped,
        "evaluations": int(sum(g.evaluations for g in result.generations)),
        # Before generation 0: the distance's prior predictive scales and pyabc's prior
        # sample that sets the first tolerance.
        "prior_evaluations": 2 * result.evaluations_scales,
        "library": f"pyabc {pyabc.__version__}",
        "elapsed_seconds": round(elapsed, 1),
        "label": label_of(result),
    }


# --------------------------------------------------------------------------- figures


def plot_posterior(result: CalibrationResult, path: Path) -> Path:
    """One panel per parameter (posterior weighted histogram over the prior density, prior
    bounds as the x range), then the strongest posterior correlations."""
    spec, values, w = result.spec, result.values, result.weights
    n_par = len(spec.priors)
    cols = 4
    rows = math.ceil((n_par + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.7 * rows + 0.9),
                             squeeze=False)
    for i, prior in enumerate(spec.priors):
        ax = axes[i // cols][i % cols]
        lo, hi = prior.lower, prior.upper
        grid = np.linspace(lo, hi, 200)
        ax.hist(values[:, i], bins=24, range=(lo, hi), weights=w, density=True,
                color="#1f77b4", alpha=0.55, label="posterior")
        ax.plot(grid, scipy_prior(prior).pdf(grid), color="0.35", ls="--", lw=1.3,
                label="prior")
        ax.axvline(weighted_mean(values[:, i], w), color="#1f77b4", lw=1.6,
                   label="posterior mean")
        table, name = prior.path.split(".", 1)
        unit = parameter_unit(prior.path)
        ax.set_xlabel(f"{name}\n[{unit}]" if unit else name, fontsize=8)
        ax.set_title(table, fontsize=8, color="0.4", loc="left")
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(lo, hi)
        if i == 0:
            ax.legend(fontsize=7, loc="upper right")
    ax = axes[n_par // cols][n_par % cols]
    corr = weighted_corr(values, w)
    pairs = [(abs(corr[i, j]), corr[i, j], i, j) for i in range(n_par)
             for j in range(i + 1, n_par) if np.isfinite(corr[i, j])]
    pairs.sort(reverse=True)
    top = pairs[:TOP_CORRELATIONS][::-1]
    short = [p.path.split(".", 1)[1] for p in spec.priors]
    ax.barh(range(len(top)), [r for _, r, _, _ in top],
            color=["#d62728" if r < 0 else "#2ca02c" for _, r, _, _ in top])
    ax.set_yticks(range(len(top)), [f"{short[i]} x\n{short[j]}" for _, _, i, j in top],
                  fontsize=6)
    ax.set_xlim(-1, 1)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel("weighted correlation (posterior)", fontsize=8)
    ax.set_title("strongest correlations", fontsize=8, color="0.4", loc="left")
    ax.tick_params(axis="x", labelsize=7)
    for k in range(n_par + 1, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    last = result.generations[-1] if result.generations else None
    fig.suptitle(f"Posterior of '{spec.scenario.name}' parameters, {label_of(result)}\n"
                 f"{len(w)} weighted particles (ABC-SMC generation "
                 f"{last.t if last else '-'}, tolerance {last.epsilon:.3g})"
                 if last else f"Posterior of '{spec.scenario.name}' parameters", fontsize=10)
    add_footnote(fig, "histograms: posterior (weighted particles); dashed: prior density; "
                 "x range: prior bounds")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, path, dpi=110)
    return path


@dataclass(frozen=True)
class Bands:
    """Ensemble quantiles of simulated frontiers, each (S, T), and the observed (S, T)."""

    series: tuple[str, ...]
    first_month: int
    q10: np.ndarray
    median: np.ndarray
    q90: np.ndarray
    observed: np.ndarray

    @classmethod
    def from_results(cls, results: Results, series: Sequence[str],
                     record: EciHistory) -> Bands:
        names = tuple(series)
        idx = [OUTPUT_CAMPS.index(n) for n in names]
        frontiers = np.moveaxis(results.arrays["bench_frontier"][:, :, idx], 2, 1)
        q10, med, q90 = np.quantile(frontiers, [0.1, 0.5, 0.9], axis=0)
        start = results.world.params.start_month
        obs = np.stack([record.window(name, start, med.shape[1]) for name in names])
        return cls(names, start, q10, med, q90, obs)

    def stats(self, first: int, last: int) -> dict[str, dict[str, float]]:
        """Per series over months ``first..last``: ``rmse`` (ECI points), ``coverage``
        (share in the 10-90% band), ``bias`` (mean median - observed), ``n``."""
        lo, hi = first - self.first_month, last - self.first_month + 1
        out = {}
        for i, name in enumerate(self.series):
            obs = self.observed[i, lo:hi]
            ok = np.isfinite(obs)
            diff = self.median[i, lo:hi][ok] - obs[ok]
            inside = (self.q10[i, lo:hi][ok] <= obs[ok]) & (obs[ok] <= self.q90[i, lo:hi][ok])
            n = int(ok.sum())
            out[name] = {
                "rmse": float(np.sqrt(np.mean(diff ** 2))) if n else float("nan"),
                "bias": float(np.mean(diff)) if n else float("nan"),
                "coverage": float(np.mean(inside)) if n else float("nan"),
                "n": n,
            }
        return out


def plot_bands(bands: Bands, path: Path, *, title: str, fit_end: int | None = None,
               subtitle: str = "") -> Path:
    """One panel per series: the record over the simulated median and 10-90% band; months
    after ``fit_end`` (out of sample) shaded."""
    n = len(bands.series)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.6 * rows + 0.8), squeeze=False,
                             sharex=True)
    dates = to_datetime64(bands.first_month, bands.median.shape[1])
    for i, name in enumerate(bands.series):
        ax = axes[i // cols][i % cols]
        color = CAMP_COLORS[name]
        ax.fill_between(dates, bands.q10[i], bands.q90[i], color=color, alpha=0.18, lw=0,
                        label="simulated 10-90%")
        ax.plot(dates, bands.median[i], color=color, lw=2.0, label="simulated median")
        ax.plot(dates, bands.observed[i], color="black", lw=0, marker="o", ms=3.2,
                label="observed (Epoch ECI)")
        if fit_end is not None and fit_end < bands.first_month + len(dates) - 1:
            cut = to_datetime64(fit_end + 1, 1)[0]
            ax.axvspan(cut, dates[-1] + np.timedelta64(15, "D"), color="0.85", alpha=0.5,
                       lw=0, label="after the cut (not fitted)")
        ax.set_title(CAMP_LABELS[name], fontsize=10)
        ax.set_ylabel("released frontier (ECI points)")
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        ax.grid(True, color="0.9", lw=0.8)
        if i == 0:
            ax.legend(loc="upper left", fontsize=8)
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("month")
    fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    add_footnote(fig, EPOCH_CREDIT)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    save_figure(fig, path, dpi=120)
    return path


# --------------------------------------------------------------------------- report


def prior_posterior_table(result: CalibrationResult) -> list[str]:
    rows = ["| parameter | unit | prior | prior mean | posterior mean | posterior 90% interval "
            "| interval / prior range | note |", "|---|---|---|---:|---:|---|---:|---|"]
    for i, p in enumerate(result.spec.priors):
        x = result.values[:, i]
        lo, hi = weighted_quantile(x, result.weights, [0.05, 0.95])
        share = (hi - lo) / (p.upper - p.lower)
        mean = weighted_mean(x, result.weights)
        prior = f"{p.distribution} {p.lower:g}..{p.upper:g}" + (
            f" (mean {p.mean:g}, sd {p.sd:g})" if p.distribution == "normal" else "")
        near = min(mean - p.lower, p.upper - mean) <= 0.05 * (p.upper - p.lower)
        note = "; ".join(x for x in ("weakly identified" if share >= WEAK_SHARE else "",
                                     "mean near a prior bound" if near else "") if x)
        rows.append(f"| `{p.path}` | {parameter_unit(p.path)} | {prior} | "
                    f"{float(scipy_prior(p).mean()):.4g} | {mean:.4g} | {lo:.4g}..{hi:.4g} | "
                    f"{share:.0%} | {note} |")
    return rows


def correlation_lines(result: CalibrationResult) -> list[str]:
    corr = weighted_corr(result.values, result.weights)
    names = result.names
    pairs = sorted(((abs(corr[i, j]), corr[i, j], names[i], names[j])
                    for i in range(len(names)) for j in range(i + 1, len(names))
                    if np.isfinite(corr[i, j])), reverse=True)
    return [f"- `{a}` x `{b}`: r = {r:+.2f}" for _, r, a, b in pairs[:TOP_CORRELATIONS]]


def stats_table(columns: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Markdown rows: one per series, RMSE / bias / coverage per labelled month set."""
    labels = list(columns)
    head = "| series | " + " | ".join(f"{lab}: RMSE | {lab}: bias | {lab}: in 10-90% band"
                                       for lab in labels) + " |"
    rows = [head, "|---|" + "---:|---:|---:|" * len(labels)]
    for name in next(iter(columns.values())):
        cells = []
        for lab in labels:
            s = columns[lab][name]
            cells += [f"{s['rmse']:.2f}", f"{s['bias']:+.2f}",
                      f"{s['coverage']:.0%} ({s['n']})"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def economic_table(result: CalibrationResult, predictive: Results) -> list[str]:
    """Each economic observation against the posterior predictive (median, 10-90%)."""
    econ = tuple(s for s in result.stats if s.kind == "log10")
    if not econ:
        return ["(no economic observations in this calibration's data)"]
    sim = 10 ** simulated(predictive, econ)
    rows = ["| observation | observed | posterior predictive median [10%, 90%] | inside? |",
            "|---|---:|---|---|"]
    for i, s in enumerate(econ):
        lo, mid, hi = np.nanquantile(sim[:, i], [0.1, 0.5, 0.9])
        obs = 10 ** s.observed
        rows.append(f"| {s.name} | {obs:.4g} | {mid:.4g} [{lo:.4g}, {hi:.4g}] | "
                    f"{'yes' if lo <= obs <= hi else 'no'} |")
    return rows


def write_calibration(result: CalibrationResult, out: Path, predictive: Results, *,
                      elapsed: float) -> list[Path]:
    """Write the posterior folder (module doc); ``predictive`` is the posterior predictive
    over the scenario's whole horizon."""
    spec = result.spec
    frame = posterior_frame(result)
    parquet = out / "posterior.parquet"
    tmp = out / ".posterior.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(parquet)
    blob = manifest(result, elapsed)
    write_text_atomic(out / "posterior.json", json.dumps(blob, indent=2) + "\n")
    marginals = plot_posterior(result, out / "posterior.png")

    bands = Bands.from_results(predictive, spec.eci_series, spec.history)
    start = predictive.world.params.start_month
    end = start + predictive.n_months - 1
    columns = {f"to the cut {spec.cut_label}": bands.stats(start, spec.cut)}
    if spec.cut < end:
        columns[f"after the cut (not fitted) to {format_month(end)}"] = bands.stats(
            spec.cut + 1, end)
    fit = plot_bands(bands, out / "fit.png",
                     title=f"Posterior predictive of '{spec.scenario.name}', "
                     f"{label_of(result)}",
                     fit_end=spec.cut,
                     subtitle=f"{predictive.n_runs} runs, each at a particle drawn from the "
                     f"posterior, seed {spec.seed}")
    gens = ["| generation | tolerance | acceptance | evaluations | seconds |",
            "|---:|---:|---:|---:|---:|"]
    gens += [f"| {g.t} | {g.epsilon:.4g} | {g.acceptance:.1%} | {g.evaluations} | "
             f"{g.seconds:.1f} |" for g in result.generations]
    data = [f"- `{d['series']}` ({d['unit']}): {', '.join(d['months'])}. {d['source']}"
            for d in blob["data"]]
    reasons = [f"- `{p.path}`: {p.reason}" for p in spec.priors]
    lines = [
        f"# Calibration of `{spec.scenario.name}`, {label_of(result)}",
        "",
        f"Spec `{blob['spec']['path']}` (seed {spec.seed}); ABC-SMC ({blob['library']}), "
        f"{spec.population_size} particles per generation, batches of {spec.batch_size} "
        f"proposals; {blob['evaluations']} evaluations in {len(result.generations)} "
        f"generations (stopped: {result.stopped}); {elapsed:.0f} s in all.",
        "",
        "## Prior vs posterior",
        "",
        *prior_posterior_table(result),
        "",
        f"![posterior marginals and correlations]({marginals.name})",
        "",
        "Strongest posterior correlations:",
        "",
        *correlation_lines(result),
        "",
        "## Priors: reasons",
        "",
        *reasons,
        "",
        f"## Data (nothing dated after {spec.cut_label})",
        "",
        *data,
        "",
        f"Statistics: {blob['statistics']}",
        "",
        f"Distance: {blob['distance']}",
        "",
        "## Generations",
        "",
        *gens,
        "",
        f"## Posterior predictive ({predictive.n_runs} runs)",
        "",
        *stats_table(columns),
        "",
        f"![fit]({fit.name})",
        "",
        *economic_table(result, predictive),
        "",
        f"{EPOCH_CREDIT}.",
    ]
    write_text_atomic(out / "report.md", "\n".join(lines) + "\n")
    return [parquet, out / "posterior.json", marginals, fit, out / "report.md"]
