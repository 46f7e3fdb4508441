"""How long until large open models are back in a market that bans them, and whose they are.

    python experiments/ban_leakage.py [--runs 200] [--seed 20260401] [--out DIR]

Simulates the baseline and ``us-open-ban`` (the US bans open models trained above 1e25 FLOP
from 2027-01) on common random numbers and writes ``ban-leakage.md`` and
``ban-leakage.png``:

* **timing**: months from the ban until US buyers' use of large open models is back to 25%,
  50% and 75% of what it is in the same run without the ban, for 6 months in a row (the
  indicator of the bet ``us-ban-leaks``, :func:`sim.measures.indicators.months_until`);
* **from whom**: the open camps' shares of US buyers' large-open use, with and without the
  ban (``large_open_source_share``);
* **what decides it**: the same timing with the ban's enforcement and
  ``policy.ban_leak_months`` (both priors, docs/model.md 5.5) at other values, on fewer runs.

The scenarios run as shipped: at fixed parameters, or with a parameter draw per run when they
name a posterior (the report says which).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.core.engine import simulate  # noqa: E402
from sim.core.parameter_draws import band_note  # noqa: E402
from sim.files import write_text_atomic  # noqa: E402
from sim.inputs.scenario import load_scenario, resolve_scenario_path  # noqa: E402
from sim.inputs.seeds import seeds_for  # noqa: E402
from sim.measures import indicators as ind  # noqa: E402
from sim.report.figures import (  # noqa: E402
    CAMP_COLORS,
    CAMP_LABELS,
    add_footnote,
    format_time_axis,
    save_figure,
    simulated_dates,
    wrapped,
)

LEVELS = (0.25, 0.5, 0.75)
HOLD = 6
CAMPS = ("open_cn", "open_other", "open_us")
BAN_MONTH = "2027-01"


def _sim(name: str, runs: int, seed: int, overrides: dict | None = None):
    sc = load_scenario(resolve_scenario_path(name))
    if overrides:
        sc = sc.with_overrides(overrides)
    return simulate(sc, n_runs=runs, seed=seed, seeds=seeds_for(sc))


def _ratio(ban, base) -> np.ndarray:
    a = ind.series_values(ban, "large_open_tokens", {"jurisdiction": "US"})
    b = ind.series_values(base, "large_open_tokens", {"jurisdiction": "US"})
    with np.errstate(all="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _timing(ratio: np.ndarray, start: int) -> dict[float, np.ndarray]:
    end = ratio.shape[1] - 1
    return {lv: ind.months_until(ratio, start, end, lv, HOLD) for lv in LEVELS}


def _cell(m: np.ndarray) -> str:
    ok = np.isfinite(m)
    never = f"{(~ok).mean():.0%}"
    if not ok.any():
        return f"never within the horizon ({never} of runs)"
    q = np.quantile(m[ok], [0.1, 0.5, 0.9])
    return f"{q[1]:.0f} [{q[0]:.0f}, {q[2]:.0f}]; never: {never}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20260401)
    ap.add_argument("--out", type=Path, default=Path("experiments/bets-results"))
    args = ap.parse_args(argv)
    base = _sim("baseline", args.runs, args.seed)
    ban = _sim("us-open-ban", args.runs, args.seed)
    start = int(np.searchsorted(simulated_dates(ban), np.datetime64(BAN_MONTH)))
    ratio = _ratio(ban, base)
    timing = _timing(ratio, start)
    dates = simulated_dates(ban)
    p = ban.world.params
    ev = next(e for e in ban.world.schedule if e.kind == "ban")
    lines = [
        "# A US ban on large open models: how long until they are back, and whose", "",
        f"`python experiments/ban_leakage.py --runs {args.runs} --seed {args.seed}`; "
        f"{band_note(ban.scenario, args.runs, '10-90%')}. The US bans open models trained "
        f"above {ev.threshold_flop:.0e} FLOP from {BAN_MONTH} (enforcement "
        f"{ev.enforcement:.0%}, `policy.ban_leak_months` = {p.ban_leak_months:g}); each run "
        "is compared with the same run without the ban (common random numbers). A banned "
        "foreign model reaches US buyers at `1 - e ** (1 + age / tau)` of its availability "
        "(docs/model.md 5.5).", "",
        "## How long", "",
        f"Months from {BAN_MONTH} until US buyers' use of large open models is back to a "
        f"share of its no-ban level for {HOLD} months in a row: median [10%, 90%] over the "
        "runs where it happens, and the share of runs where it does not happen by 2029-12.",
        "", "| back to | months from the ban |", "|:--|:--|",
        *(f"| {lv:.0%} of no-ban use | {_cell(timing[lv])} |" for lv in LEVELS), "",
        "US buyers' large-open use under the ban as a share of the same run without it "
        "(median [10%, 90%]):", "",
        "| month | share of no-ban use |", "|:--|:--|"]
    for when in ("2027-01", "2027-06", "2028-01", "2028-12", "2029-12"):
        t = int(np.searchsorted(dates, np.datetime64(when)))
        q = np.nanquantile(ratio[:, t], [0.1, 0.5, 0.9])
        lines.append(f"| {when} | {q[1]:.2f} [{q[0]:.2f}, {q[2]:.2f}] |")
    lines += ["", "## From whom", "",
              "Share of US buyers' large-open use served by each open camp's labs (median "
              "over runs), under the ban and without it. US labs cannot release above the "
              "threshold under the ban; what US buyers use comes from labs abroad, whose "
              "sovereigns raise their grants after a ban abroad (`grant_ban_response`).", "",
              "| month | " + " | ".join(f"{CAMP_LABELS[c]}: ban / no ban" for c in CAMPS)
              + " |", "|:--|" + "---|" * len(CAMPS)]
    shares = {w: {c: ind.series_values(res, "large_open_source_share",
                                        {"jurisdiction": "US", "camp": c}) for c in CAMPS}
              for w, res in (("ban", ban), ("base", base))}
    for when in ("2026-12", "2027-06", "2028-06", "2029-12"):
        t = int(np.searchsorted(dates, np.datetime64(when)))
        cells = [f"{np.nanmedian(shares['ban'][c][:, t]):.0%} / "
                 f"{np.nanmedian(shares['base'][c][:, t]):.0%}" for c in CAMPS]
        lines.append(f"| {when} | " + " | ".join(cells) + " |")
    # what decides it: enforcement and the spreading time, on fewer runs
    small = max(40, args.runs // 4)
    base_small = _sim("baseline", small, args.seed)
    lines += ["", "## What decides it", "",
              f"Months until back to 50% of no-ban use ({HOLD} months in a row), {small} runs "
              "each, at other values of the two priors:", "",
              "| enforcement \\ ban_leak_months | 6 | 12 | 24 |", "|:--|---|---|---|"]
    for e in (0.5, 0.7, 0.9):
        row = []
        for tau in (6.0, 12.0, 24.0):
            res = _sim("us-open-ban", small, args.seed, {"events.us_ban.enforcement": e,
                                                         "policy.ban_leak_months": tau})
            row.append(_cell(_timing(_ratio(res, base_small), start)[0.5]))
        lines.append(f"| {e:.1f} | " + " | ".join(row) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "ban-leakage.md", "\n".join(lines) + "\n")
    # figure: the share of no-ban use over time, and whose large open models
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8.5), sharex=True)
    q = np.nanquantile(ratio, [0.1, 0.5, 0.9], axis=0)
    ax1.fill_between(dates, 100 * q[0], 100 * q[2], color="#1f77b4", alpha=0.2, lw=0,
                     label="10-90% of runs")
    ax1.plot(dates, 100 * q[1], color="#1f77b4", lw=2, label="median")
    for lv in LEVELS:
        ax1.axhline(100 * lv, color="0.6", lw=0.8, ls=":")
    ax1.axvline(dates[start], color="0.3", lw=1, ls="--")
    ax1.annotate("US ban", xy=(dates[start], 2), xytext=(4, 0), textcoords="offset points",
                 fontsize=8)
    ax1.set_ylim(0, 110)
    ax1.set_ylabel("US large-open use under the ban\n(% of the same run without it)")
    ax1.set_title("US buyers' use of large open models (trained above 1e25 FLOP) under the "
                  "ban, against the same run without it", fontsize=10)
    ax1.legend(loc="upper right", fontsize=8, frameon=False)
    bottom = np.zeros(len(dates))
    for c in CAMPS:
        med = np.nan_to_num(np.nanmedian(shares["ban"][c], axis=0))
        ax2.fill_between(dates, 100 * bottom, 100 * (bottom + med), step="post",
                         color=CAMP_COLORS[c], alpha=0.7, lw=0, label=CAMP_LABELS[c])
        bottom = bottom + med
    ax2.axvline(dates[start], color="0.3", lw=1, ls="--")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("share of US large-open use (%,\nmedian over runs, stacked)")
    ax2.set_title("Whose large open models US buyers use, under the ban", fontsize=10)
    ax2.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False,
               title="lab camp")
    for ax in (ax1, ax2):
        format_time_axis(ax)
    ax1.set_xlabel("")
    fig.suptitle(wrapped(f"A US ban on large open models (us-open-ban vs baseline, seed "
                         f"{args.seed}); bands: {band_note(ban.scenario, args.runs)}", 110),
                 fontsize=11)
    add_footnote(fig, "Medians of shares need not sum to exactly 100%. Dotted lines: 25%, "
                 "50%, 75% of no-ban use.")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    save_figure(fig, args.out / "ban-leakage.png")
    print(f"wrote {args.out / 'ban-leakage.md'} and {args.out / 'ban-leakage.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
