#!/usr/bin/env python3
"""Backtest: calibrate on the ECI record of 2023-01..2024-12, run 2025-01..2026-03 forward.

    python experiments/backtest/run_backtest.py [--runs 200]

1. Fits the parameters of ``calibrate-2023-2024.toml`` (history-2023 scenario, loss over
   2023-01..2024-12 only) with :func:`sim.studies.calibration.fit.calibrate`.
2. Simulates the fitted scenario over its whole horizon (2023-01..2026-03) with a larger
   ensemble and scores each series in sample (2023-01..2024-12) and out of sample
   (2025-01..2026-03): RMSE of the median, bias, and the share of months in which the
   observed value lies inside the simulated 10-90% band. The same for the uncalibrated
   priors (the start values) and, for RMSE, two naive forecasts made at 2024-12
   (persistence and a straight-line trend fitted to 2023-01..2024-12).
3. Fits the same parameters on the whole record (``calibrate-full.toml``) and writes the
   fragment ``scenarios/fragments/calibrated.toml`` that a scenario can ``include``.

Writes ``report.md``, ``backtest.png``, ``backtest.json`` and ``calibrated-2023-2024.toml``
next to this script. Progress goes to stderr; takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sim.calendar import format_month, parse_month
from sim.core.engine import simulate
from sim.files import write_text_atomic
from sim.inputs.seeds import load_seeds
from sim.report.calibration import (
    Bands,
    fragment_text,
    parameter_table,
    plot_bands,
    stats_table,
)
from sim.report.figures import EPOCH_CREDIT
from sim.studies.calibration.fit import CalibrationResult, Objective, calibrate, load_observed
from sim.studies.calibration.spec import load_spec

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BACKTEST_SPEC = HERE / "calibrate-2023-2024.toml"
FULL_SPEC = HERE / "calibrate-full.toml"
FRAGMENT = REPO / "scenarios" / "fragments" / "calibrated.toml"


def say(msg: str) -> None:
    sys.stderr.write(f"backtest: {msg}\n")
    sys.stderr.flush()


def naive_rmse(observed: np.ndarray, first_month: int, fit_end: int,
               last: int) -> dict[str, dict[str, float]]:
    """RMSE out of sample of persistence (last value at ``fit_end``) and of a straight line
    fitted by least squares to the in-sample months, per row of ``observed`` (S, T)."""
    cut = fit_end - first_month + 1
    months = np.arange(observed.shape[1])
    out: dict[str, dict[str, float]] = {"persistence": {}, "trend": {}}
    for i in range(observed.shape[0]):
        ins, oos = observed[i, :cut], observed[i, cut:last - first_month + 1]
        ok_in, ok_out = np.isfinite(ins), np.isfinite(oos)
        last_value = ins[ok_in][-1]
        slope, icpt = np.polyfit(months[:cut][ok_in], ins[ok_in], 1)
        trend = icpt + slope * months[cut:last - first_month + 1]
        out["persistence"][i] = float(np.sqrt(np.mean((last_value - oos[ok_out]) ** 2)))
        out["trend"][i] = float(np.sqrt(np.mean((trend[ok_out] - oos[ok_out]) ** 2)))
    return out


def load_cross_section_slope() -> tuple[float, float]:
    """Epoch's cross-section slope b (and s.e.) of ECI on log10 training FLOP."""
    import csv

    from sim.inputs.seeds import seeds_dir

    with (seeds_dir() / "derived" / "eci_compute_fit.csv").open(encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["param"] == "b")
    return float(row["value"]), float(row["stderr"])


def forward(result: CalibrationResult, values: dict[str, float], runs: int, seeds, observed):
    spec = result.spec
    obj = Objective(spec, observed, seeds)
    scenario = obj.scenario([values[name] for name in spec.names])
    results = simulate(scenario, n_runs=runs, seed=spec.seed, seeds=seeds)
    return Bands.from_results(results, spec.series, observed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200,
                        help="ensemble size of the forward runs (default 200)")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    observed = load_observed()

    # 1. Fit on 2023-01..2024-12 only.
    spec = load_spec(BACKTEST_SPEC)
    seeds = load_seeds(start=spec.scenario.time.start)
    say(f"calibrating on {format_month(spec.period_start)}..{format_month(spec.period_end)}")
    fit = calibrate(spec, observed=observed, seeds=seeds, progress=say)
    write_text_atomic(HERE / "calibrated-2023-2024.toml", fragment_text(fit))
    # The same fit under another seed: how much simulation noise moves the estimates.
    say("refitting under a second seed")
    fit2 = calibrate(replace(spec, seed=spec.seed + 1), observed=observed, seeds=seeds,
                     progress=say)

    # 2. Forward runs: fitted and prior (start) values over the whole horizon.
    say(f"simulating {args.runs} runs at the fitted and at the prior values")
    fitted = forward(fit, fit.values, args.runs, seeds, observed)
    prior = forward(fit, fit.start_values, args.runs, seeds, observed)
    start = parse_month(spec.scenario.time.start)
    end = parse_month(spec.scenario.time.end)
    fit_end = spec.period_end
    in_sample = (spec.period_start, fit_end)
    out_sample = (fit_end + 1, end)
    columns = {
        "in sample": fitted.stats(*in_sample),
        "out of sample": fitted.stats(*out_sample),
    }
    prior_columns = {
        "in sample": prior.stats(*in_sample),
        "out of sample": prior.stats(*out_sample),
    }
    naive = naive_rmse(fitted.observed, start, fit_end, end)
    figure = plot_bands(
        fitted, HERE / "backtest.png",
        title=f"Backtest: fitted on {format_month(spec.period_start)}..{format_month(fit_end)},"
              f" run forward to {format_month(end)} (shaded: out of sample)",
        fit_end=fit_end,
        subtitle=f"scenario history-2023 at the fitted values, {args.runs} runs, seed "
                 f"{spec.seed}; observed = released-model running max",
        reference=prior, reference_label="median at the priors (not fitted)")

    # 3. Whole-record fit for the shipped fragment (in sample only).
    full_spec = load_spec(FULL_SPEC)
    say("calibrating on the whole record for scenarios/fragments/calibrated.toml")
    full = calibrate(full_spec, observed=observed, seeds=seeds, progress=say)
    FRAGMENT.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(FRAGMENT, fragment_text(full))
    full_bands = forward(full, full.values, args.runs, seeds, observed)
    full_columns = {"whole record": full_bands.stats(start, end)}
    seconds = time.monotonic() - t0

    blob = {
        "backtest": {"values": fit.values, "std_error": fit.std_error,
                     "start_values": fit.start_values, "fitted": columns,
                     "prior": prior_columns,
                     "naive_out_of_sample_rmse": {
                         kind: {spec.series[i]: v for i, v in rows.items()}
                         for kind, rows in naive.items()},
                     "n_evaluations": fit.n_evaluations, "fit_rmse": fit.rmse,
                     "second_seed_values": fit2.values},
        "whole_record": {"values": full.values, "std_error": full.std_error,
                         "fitted": full_columns, "n_evaluations": full.n_evaluations},
        "runs": args.runs, "seed": spec.seed, "seconds": round(seconds, 1),
    }
    write_text_atomic(HERE / "backtest.json",
                      json.dumps(blob, indent=2, sort_keys=True, default=float) + "\n")

    def oos_line(name: str, i: int) -> str:
        f, p = columns["out of sample"][name], prior_columns["out of sample"][name]
        return (f"| {name} | {f['rmse']:.2f} | {p['rmse']:.2f} | "
                f"{naive['persistence'][i]:.2f} | {naive['trend'][i]:.2f} |")

    def verdict() -> str:
        fit_oos = {s: columns["out of sample"][s]["rmse"] for s in spec.series}
        prior_oos = {s: prior_columns["out of sample"][s]["rmse"] for s in spec.series}
        worse = [s for s in spec.series if fit_oos[s] > prior_oos[s]]
        beats_p = sum(fit_oos[s] < naive["persistence"][i] for i, s in enumerate(spec.series))
        beats_t = sum(fit_oos[s] < naive["trend"][i] for i, s in enumerate(spec.series))
        n = len(spec.series)
        text = (f"- Out of sample the fitted model beats persistence for {beats_p} of {n} "
                f"series and the linear trend for {beats_t} of {n}. ")
        if worse:
            text += (f"The model at its priors forecasts better than the fitted model "
                     f"for {len(worse)} of {n} series ({', '.join(worse)}), but the priors "
                     "are not an out-of-sample forecast: baseline.toml's "
                     "`algo_progress_per_year` was chosen so the closed frontier rises ~10 "
                     "ECI points a year as it did over 2023-2026, and the priors overshoot "
                     "2023-2024 badly (dashed lines). The 2023-2024 fit does not carry "
                     "forward.")
        else:
            text += "Calibration improved on the priors for every series."
        return text

    def slope_line() -> str:
        name = "capability.eci_per_log10_flop"
        if name not in fit.values:
            return ""
        cross = load_cross_section_slope()
        return (f"- The fitted ECI-per-compute slope ({fit.values[name]:.2f} points per 10x) is "
                f"far from Epoch's cross-section estimate ({cross[0]:.2f} +- {cross[1]:.2f}, "
                "`seeds/derived/eci_compute_fit.csv`): the fit does not measure that slope, "
                "it trades it against algorithmic progress (see the correlations) to make "
                "2023 flat. Do not read the fitted values as estimates of the real "
                "quantities; read them as what this model needs to draw 2023-2024.")

    free = [p.path for p in spec.parameters if not p.integer]
    pairs = [f"`{free[a]}` / `{free[b]}` r = {fit.correlation[a, b]:+.2f}"
             for a in range(len(free)) for b in range(a + 1, len(free))
             if np.isfinite(fit.correlation[a, b]) and abs(fit.correlation[a, b]) >= 0.7]
    mean_in = np.mean([columns["in sample"][s]["rmse"] for s in spec.series])
    mean_out = np.mean([columns["out of sample"][s]["rmse"] for s in spec.series])
    cover_in = np.mean([columns["in sample"][s]["coverage"] for s in spec.series])
    cover_out = np.mean([columns["out of sample"][s]["coverage"] for s in spec.series])
    bias_out = {s: columns["out of sample"][s]["bias"] for s in spec.series}
    lines = [
        "# Backtest of opengap against the Epoch ECI record",
        "",
        "Generated by `python experiments/backtest/run_backtest.py` "
        f"({seconds / 60:.1f} minutes on a shared 2-core machine; timings are noisy). "
        "Every number below is printed by that script; rerunning it reproduces them "
        "(fixed seeds).",
        "",
        "**What was done.** The model starts from the world as of 2023-01 "
        "(`seeds/history-2023/`: the labs that existed then, with their models' ECI where "
        "Epoch scored them and marked priors elsewhere) and runs the `history-2023` scenario "
        "(real export-control, diffusion-rule, H20/H200 and distillation events, magnitudes as "
        "priors). `opengap calibrate` fitted six parameters "
        f"(`{BACKTEST_SPEC.name}`) to the monthly released-model running maxima of the closed "
        "frontier, the best open model, the best Chinese open model and the best US open model "
        f"over **{format_month(spec.period_start)}..{format_month(fit_end)} only**, "
        "minimising the mean squared difference between the ensemble median and the record "
        f"({spec.runs} runs per evaluation, common random numbers, Nelder-Mead in scipy; "
        f"{fit.n_evaluations} evaluations). The fitted scenario was then run forward with "
        f"{args.runs} runs to {format_month(end)} and compared with what happened.",
        "",
        "**Nothing after 2024-12 informed the fit.** The loss uses only observed months up to "
        "2024-12, a simulated month depends only on the scenario up to that month, and the "
        "forward part was not tuned: the fitted values were used as they came out. Honest "
        "caveats: (1) the policy events of 2025-2026 are scheduled inputs, so the forward run "
        "is a forecast *conditional on* knowing them; (2) the seed priors, the parameter set, "
        "its bounds and the event magnitudes were chosen by someone who had seen the whole "
        "record, so the out-of-sample figures are, if anything, optimistic; "
        "(3) the labs founded after 2023-01 (xAI, Mistral, Moonshot, StepFun, Sarvam) are "
        "entrant slots that enter at a sentiment- and revenue-driven rate (a prior), not on "
        "their historical dates, so they may appear later than they did.",
        "",
        "## Fitted parameters (fit on 2023-01..2024-12)",
        "",
        *parameter_table(fit),
        "",
        "Uncertainty: Gauss-Newton standard errors at the optimum (central-difference "
        "Jacobian of the median residuals, covariance inflated by n / n_eff = "
        f"{fit.n_observations} / {fit.n_effective} for the autocorrelation of running maxima; "
        "see `sim/studies/calibration/fit.py`); the integer lag is profiled instead. 'Weakly "
        "identified' means the approximate 90% interval spans most of the allowed range: "
        "the 2023-2024 record does not pin that parameter down. Strongly correlated "
        "estimates (|r| >= 0.7): " + ("; ".join(pairs) if pairs else "none") + ".",
        "",
        f"The same fit under seed {spec.seed + 1} (other random draws, same data) gives:",
        "",
        "| parameter | seed " + str(spec.seed) + " | seed " + str(spec.seed + 1) + " |",
        "|---|---:|---:|",
        *[f"| `{p.path}` | {fit.values[p.path]:.4g} | {fit2.values[p.path]:.4g} |"
          for p in spec.parameters],
        "",
        f"(weighted RMSE {fit.rmse:.2f} and {fit2.rmse:.2f} ECI points.) Where the two "
        "differ by more than the s.e. suggests, simulation noise, not the data, decides the "
        "value.",
        "",
        f"## In-sample and out-of-sample fit ({args.runs} runs at the fitted values)",
        "",
        "RMSE and bias (median minus observed) in ECI points; 'in band': share of months "
        "(count in brackets) in which the observed value lies inside the simulated 10-90% "
        "band (an honest 80% band covers about 80%).",
        "",
        *stats_table(columns),
        "",
        "Out-of-sample RMSE (ECI points) against the uncalibrated priors and two naive "
        "forecasts made at 2024-12 (persistence: the 2024-12 value; trend: a straight line "
        "fitted to 2023-01..2024-12):",
        "",
        "| series | fitted model | model at priors | persistence | linear trend |",
        "|---|---:|---:|---:|---:|",
        *[oos_line(name, i) for i, name in enumerate(spec.series)],
        "",
        f"![backtest]({figure.name})",
        "",
        "## Reading",
        "",
        f"- In sample the fit brings the RMSE from {math.sqrt(fit.start_loss):.1f} ECI points "
        f"at the priors to {fit.rmse:.1f} ({spec.runs}-run fit); over {args.runs} runs the mean "
        f"RMSE across series is {mean_in:.1f} in sample and {mean_out:.1f} out of sample, "
        f"and the 10-90% band holds the record in {cover_in:.0%} of in-sample and "
        f"{cover_out:.0%} of out-of-sample months (target ~80%): the bands are too narrow "
        "to be read as forecast intervals.",
        verdict(),
        slope_line(),
        "- Out-of-sample bias by series: " + ", ".join(f"{s} {b:+.1f}"
                                                       for s, b in bias_out.items())
        + " ECI points. A negative bias means the model fell behind what happened.",
        "- The record is convex: the closed frontier stalls at GPT-4's level through 2023 "
        "and then accelerates (reasoning models from 2024-09); the best Chinese open model "
        "jumps with DeepSeek-V3/R1 at the turn of 2025. The model's growth is concave "
        "(compute bought from cash grows fastest early; algorithmic progress is linear), so "
        "a fit to the 2023 plateau lowers the ECI-per-compute slope and the model cannot "
        "follow the 2025 acceleration. Mechanisms that could (investment that scales with "
        "the frontier, a reasoning/post-training step, lab entry) are not in the model.",
        "",
        "## Whole-record calibration (in sample only)",
        "",
        f"`{FULL_SPEC.name}` fits the same parameters on 2023-01..2026-03 "
        f"({full.n_evaluations} evaluations). Its fragment is "
        "`scenarios/fragments/calibrated.toml`; `scenarios/baseline-calibrated.toml` is the "
        "baseline with it included. These numbers are in-sample fits, not forecasts.",
        "",
        *parameter_table(full),
        "",
        *stats_table(full_columns),
        "",
        EPOCH_CREDIT + ".",
    ]
    write_text_atomic(HERE / "report.md", "\n".join(lines) + "\n")
    print(f"wrote {HERE / 'report.md'}, {figure}, {FRAGMENT} ({seconds:.0f} s)")
    for label, table in (("in sample", columns["in sample"]),
                         ("out of sample", columns["out of sample"])):
        print(label + ": " + ", ".join(
            f"{s} RMSE {v['rmse']:.2f} in-band {v['coverage']:.0%}" for s, v in table.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
