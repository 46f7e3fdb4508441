"""Fit statistics, the calibrated parameter fragment, the figure and the Markdown report.

* RMSE of a series over a set of months: ``sqrt(mean_t (median_t - observed_t)^2)`` over
  the months with an observed value (ECI points), median over the ensemble.
* Band coverage: the share of those months in which the observed value lies inside the
  simulated 10-90% band (``q10 <= observed <= q90``); a calibrated 80% band covers ~80%.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.calendar import format_month, to_datetime64  # noqa: E402
from sim.core.engine import Results  # noqa: E402
from sim.files import write_text_atomic  # noqa: E402
from sim.inputs.packaged import REPO_DIR  # noqa: E402
from sim.report.figures import (  # noqa: E402
    CAMP_COLORS,
    CAMP_LABELS,
    EPOCH_CREDIT,
    add_footnote,
    save_figure,
)
from sim.studies.calibration.fit import CalibrationResult, Observed, camp_frontiers  # noqa: E402

#: Share of a parameter's range that its 90% interval may span before the report calls the
#: parameter weakly identified by the data.
WEAK_SHARE = 0.8


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
                     observed: Observed) -> Bands:
        names = tuple(series)
        frontiers = camp_frontiers(results, names)
        q10, med, q90 = np.quantile(frontiers, [0.1, 0.5, 0.9], axis=0)
        start = results.world.params.start_month
        return cls(names, start, q10, med, q90, observed.window(names, start, results.n_months))

    def stats(self, first: int, last: int) -> dict[str, dict[str, float]]:
        """Per series over months ``first..last`` (month indices): ``rmse`` (ECI points),
        ``coverage`` (share in the 10-90% band), ``bias`` (mean median - observed), ``n``."""
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


# --------------------------------------------------------------------------- fragment


def _toml_value(value: float, integer: bool) -> str:
    return str(int(round(value))) if integer else repr(float(value))


def fragment_text(result: CalibrationResult) -> str:
    """The fitted values as a parameter-only TOML fragment (``include`` it in a scenario)."""
    spec = result.spec
    source = Path(spec.source)
    repo = REPO_DIR
    if source.is_absolute() and source.is_relative_to(repo):
        source = source.relative_to(repo)
    lines = [
        "# Calibrated parameters written by `opengap calibrate` (do not edit by hand).",
        f"# spec: {source}; scenario: {spec.scenario.name}; fitted on "
        f"{', '.join(spec.series)} over {format_month(spec.period_start)}.."
        f"{format_month(spec.period_end)}",
        f"# {spec.runs} runs per evaluation, seed {spec.seed}, {result.n_evaluations} "
        f"evaluations; weighted RMSE {result.rmse:.2f} ECI points "
        f"(start values: {math.sqrt(result.start_loss):.2f}).",
        "# Use: include = [\"fragments/calibrated.toml\"] in a scenario that does not set these",
        "# keys itself (e.g. `extends = \"baseline\"` plus the include).",
        "# s.e.: Gauss-Newton approximation (see sim/studies/calibration/fit.py); integer",
        "# parameters are profiled instead.",
    ]
    tables: dict[str, list[str]] = {}
    for p in spec.parameters:
        table, key = p.path.rsplit(".", 1)
        value = result.values[p.path]
        se = result.std_error[p.path]
        lo, hi = result.interval(p.path)
        note = (f"profiled over {p.lower:g}..{p.upper:g}" if p.integer else
                f"s.e. {se:.3g}, 90% {lo:.3g}..{hi:.3g}")
        tables.setdefault(table, []).append(
            f"{key} = {_toml_value(value, p.integer)}  # {note}; start {p.start:g}, "
            f"bounds {p.lower:g}..{p.upper:g}")
    for table, rows in tables.items():
        lines += ["", f"[{table}]", *rows]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- figure


def plot_bands(bands: Bands, path: Path, *, title: str, fit_end: int | None = None,
               subtitle: str = "", reference: Bands | None = None,
               reference_label: str = "") -> Path:
    """One panel per series: observed record over the simulated median and 10-90% band;
    months after ``fit_end`` (out of sample) are shaded; ``reference`` (e.g. the model at
    its prior values) is drawn as a dashed median."""
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
        if reference is not None:
            ax.plot(dates, reference.median[i], color=color, lw=1.3, ls="--",
                    label=reference_label or "reference median")
        ax.plot(dates, bands.observed[i], color="black", lw=0, marker="o", ms=3.2,
                label="observed (Epoch ECI)")
        if fit_end is not None:
            cut = to_datetime64(fit_end + 1, 1)[0]
            ax.axvspan(cut, dates[-1] + np.timedelta64(15, "D"), color="0.85", alpha=0.5,
                       lw=0, label="out of sample")
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


def parameter_table(result: CalibrationResult) -> list[str]:
    rows = ["| parameter | start | fitted | s.e. | approx. 90% interval | bounds | note |",
            "|---|---:|---:|---:|---|---|---|"]
    for p in result.spec.parameters:
        value, se = result.values[p.path], result.std_error[p.path]
        lo, hi = result.interval(p.path)
        if p.integer:
            best = min(v for _, v in result.profiles[p.path])
            near = [x for x, v in result.profiles[p.path] if v <= best * 1.01]
            interval, se_text = f"{min(near):g}..{max(near):g} (loss within 1%)", "profile"
            note = "integer: profiled"
        else:
            interval, se_text = f"{lo:.3g}..{hi:.3g}", f"{se:.3g}"
            weak = (not math.isfinite(se)) or (hi - lo) >= WEAK_SHARE * (p.upper - p.lower)
            at_bound = min(value - p.lower, p.upper - value) <= 0.01 * (p.upper - p.lower)
            note = "; ".join(x for x in ("weakly identified" if weak else "",
                                         "at a bound" if at_bound else "") if x) or ""
        rows.append(f"| `{p.path}` | {p.start:g} | {value:.4g} | {se_text} | {interval} | "
                    f"{p.lower:g}..{p.upper:g} | {note} |")
    return rows


def stats_table(columns: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Markdown rows: one per series, RMSE / coverage columns per labelled month set."""
    labels = list(columns)
    head = "| series | " + " | ".join(f"{lab}: RMSE | {lab}: bias | {lab}: in band"
                                       for lab in labels) + " |"
    rows = [head, "|---|" + "---:|---:|---:|" * len(labels)]
    series = list(next(iter(columns.values())))
    for name in series:
        cells = []
        for lab in labels:
            s = columns[lab][name]
            cells += [f"{s['rmse']:.2f}", f"{s['bias']:+.2f}",
                      f"{s['coverage']:.0%} ({s['n']})"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def result_json(result: CalibrationResult, stats: dict[str, Any]) -> str:
    spec = result.spec
    blob = {
        "spec": spec.source,
        "scenario": spec.scenario.name,
        "scenario_hash": spec.scenario.content_hash(),
        "series": list(spec.series),
        "period": [format_month(spec.period_start), format_month(spec.period_end)],
        "runs": spec.runs, "seed": spec.seed, "method": spec.method,
        "values": result.values, "start_values": result.start_values,
        "std_error": {k: (v if math.isfinite(v) else None) for k, v in
                      result.std_error.items()},
        "interval_90": {p.path: list(result.interval(p.path)) for p in spec.parameters
                        if not p.integer},
        "profiles": result.profiles,
        "loss": result.loss, "rmse": result.rmse, "start_rmse": math.sqrt(result.start_loss),
        "n_evaluations": result.n_evaluations, "n_observations": result.n_observations,
        "n_effective": result.n_effective, "optimiser": result.optimiser_message,
        "stats": stats,
    }
    return json.dumps(blob, indent=2, sort_keys=True) + "\n"


def write_calibration(result: CalibrationResult, out: Path, results: Results,
                      observed: Observed) -> list[Path]:
    """Write ``calibrated.toml``, ``calibration.json``, ``fit.png`` and ``report.md`` to
    ``out``. ``results`` is the fitted scenario simulated over its whole horizon."""
    spec = result.spec
    bands = Bands.from_results(results, spec.series, observed)
    start = results.world.params.start_month
    end = start + results.n_months - 1
    columns = {"fitted period": bands.stats(spec.period_start, spec.period_end)}
    if spec.period_end < end:
        columns["after the period (not fitted)"] = bands.stats(spec.period_end + 1, end)
    fragment = out / "calibrated.toml"
    write_text_atomic(fragment, fragment_text(result))
    write_text_atomic(out / "calibration.json", result_json(result, columns))
    period = f"{format_month(spec.period_start)}..{format_month(spec.period_end)}"
    figure = plot_bands(
        bands, out / "fit.png", title=f"Calibration of '{spec.scenario.name}' on {period}",
        fit_end=spec.period_end if spec.period_end < end else None,
        subtitle=f"{results.n_runs} runs at the fitted values, seed {results.seed}")
    lines = [
        f"# Calibration of `{spec.scenario.name}`",
        "",
        f"Spec `{spec.source}`: series {', '.join(spec.series)}, period {period}, "
        f"{spec.runs} runs per evaluation under seed {spec.seed} (common random numbers), "
        f"{spec.method}, {result.n_evaluations} evaluations in {result.seconds:.0f} s "
        f"(optimiser: {result.optimiser_message}).",
        "",
        f"Loss: weighted mean squared difference between the ensemble median and the observed "
        f"running maxima over {result.n_observations} observed series-months "
        f"({result.n_effective} in which an observed series changed). RMSE "
        f"{math.sqrt(result.start_loss):.2f} ECI points at the start values, "
        f"{result.rmse:.2f} fitted.",
        "",
        "## Fitted parameters",
        "",
        *parameter_table(result),
        "",
        "s.e.: Gauss-Newton approximation inflated for autocorrelation (see "
        "`sim/studies/calibration/fit.py`); it ignores simulation noise beyond the fixed seed and "
        "assumes the loss is locally quadratic.",
        "",
        f"## Fit ({results.n_runs} runs at the fitted values)",
        "",
        *stats_table(columns),
        "",
        f"![fit]({figure.name})",
        "",
        f"Fragment: `{fragment.name}`. {EPOCH_CREDIT}.",
    ]
    write_text_atomic(out / "report.md", "\n".join(lines) + "\n")
    return [fragment, out / "calibration.json", figure, out / "report.md"]
