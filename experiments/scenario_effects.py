"""Issue 3 figures: what the scenario library does, on paired runs (common random numbers).

Prints, for 200 runs of each scenario against the baseline on the same seed:

1. ``cn-funding-crunch``: the delay (months) between the shock (2026-10) and the month the
   CN-open gap to the closed frontier has widened by 2 ECI points,
   (a) paired: ``gap_crunch(r, t) - gap_baseline(r, t) >= 2`` in the same run ``r`` (the
       widening the shock caused), and
   (b) within the crunch world: ``gap(r, t) - gap(r, shock - 1) >= 2`` (what an observer of
       that world alone would see; printed with the same figure for the baseline, because the
       release cycle alone widens the gap by 2 points within months);
   plus the leading indicators along the mechanism's chain (money raised, compute).
2. ``us-open-ban``: the ban in the event log, and US buyers' use of large foreign open models
   (trained above 1e25 FLOP) relative to the baseline, next to the ban's enforcement.
3. A table of headline outcomes of every scenario, paired against the baseline.

Usage: ``python experiments/scenario_effects.py [--runs 200] [--seed 20260401]``
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from sim.calendar import format_month, parse_month
from sim.core.engine import simulate
from sim.core.events import Ban, FundingShock
from sim.inputs.scenario import load_scenario, resolve_scenario_path
from sim.inputs.seeds import load_seeds
from sim.measures import metrics
from sim.measures.registry import measure
from sim.report.outputs import event_log
from sim.vocab import CAMPS, JURISDICTIONS

LIBRARY = ("cn-funding-crunch", "us-open-ban", "distillation-crackdown",
           "export-controls-tighten", "safety-shock-wave", "sovereign-open-fund",
           "us-open-resurgence", "local-agents-boom")


def _step(results, month: str) -> int:
    return parse_month(month) - results.world.params.start_month


def _share_reached(delays: np.ndarray, by: int) -> float:
    return float(np.mean((delays >= 0) & (delays <= by)))


def _describe(name: str, delays: np.ndarray) -> str:
    med = metrics.censored_median(delays)
    seen = delays[delays >= 0]
    med_txt = f"{med:.1f}" if np.isfinite(med) else "not reached by half the runs"
    among = f"{np.median(seen):.1f}" if len(seen) else "-"
    return (f"  {name}: median {med_txt}; reached in {len(seen) / len(delays):.0%} of runs "
            f"(median among those {among}); within 3/6/9/12 months: "
            + "/".join(f"{_share_reached(delays, m):.0%}" for m in (3, 6, 9, 12)))


def funding_crunch(base, crunch) -> None:
    shock = next(ev.month for ev in crunch.world.schedule if isinstance(ev, FundingShock))
    b, a = base.arrays, crunch.arrays
    when = format_month(crunch.world.params.start_month + shock)
    print(f"\n1. cn-funding-crunch: shock at {when}, {crunch.n_runs} runs; delay until the "
          "CN-open gap has widened by 2 ECI points")
    gap_cn = measure("gap_points_cn")
    paired = gap_cn.series(crunch) - gap_cn.series(base)
    print(_describe("(a) paired vs baseline", metrics.months_until(paired >= 2.0, shock)))
    for label, res in (("(b) within crunch world", crunch), ("    same in the baseline", base)):
        gap = gap_cn.series(res)
        print(_describe(label, metrics.months_until(gap - gap[:, [shock - 1]] >= 2.0, shock)))
    c = CAMPS.index("open_cn")
    for what, key, drop in (("money raised (cumulative)", "raised", 0.25),
                            ("compute stock", "compute", 0.10)):
        series_b, series_a = b[key][:, :, c], a[key][:, :, c]
        if key == "raised":
            series_b, series_a = np.cumsum(series_b, axis=1), np.cumsum(series_a, axis=1)
        ratio = np.divide(series_a, series_b, out=np.ones_like(series_a), where=series_b > 0)
        print(_describe(f"CN-open {what} {drop:.0%} below baseline",
                        metrics.months_until(ratio <= 1 - drop, shock)))
    print("  mean paired CN-open gap change at +6/+12/+24 months: "
          + ", ".join(f"{paired[:, min(shock + m, paired.shape[1] - 1)].mean():+.2f}"
                      for m in (6, 12, 24)) + " ECI points")


def us_ban(base, ban) -> None:
    t_ban = next(ev.month for ev in ban.world.schedule if isinstance(ev, Ban))
    enforcement = next(ev.enforcement for ev in ban.world.schedule if isinstance(ev, Ban))
    rows = [e for e in event_log(ban) if e["run"] == ban.run_ids[0] and "ban" in e["event"]]
    print(f"\n2. us-open-ban: event log of run {ban.run_ids[0]} (ban rows):")
    for e in rows:
        print(f"  {e['month']}  {e['actor']:5s} {e['event']:22s} {e['detail']}")
    us = JURISDICTIONS.index("US")
    after = slice(t_ban, None)
    # Large foreign open models: the ban caps US labs at the threshold, so what US buyers
    # still use above it after the ban comes from abroad (plus pre-ban US releases).
    b = base.arrays["large_open_tokens"][:, after, us].sum(axis=1)
    a = ban.arrays["large_open_tokens"][:, after, us].sum(axis=1)
    ratio = a / np.where(b > 0, b, np.nan)
    q = np.nanquantile(ratio, (0.1, 0.5, 0.9))
    print(f"  US use of large open models after the ban, relative to baseline (paired, "
          f"cumulative tokens): median {q[1]:.2f} [{q[0]:.2f}, {q[2]:.2f}]; "
          f"enforcement {enforcement:.2f} (availability at first {1 - enforcement:.2f}, "
          "more as the weights spread)")
    share = ban.arrays["large_open_tokens"][:, -1, us] / ban.arrays[
        "open_tokens_by_jurisdiction"][:, -1, us]
    print(f"  large models' share of US open-model tokens at the end: {np.median(share):.0%}")


def headline(results) -> dict[str, np.ndarray]:
    """Per-run headline outcomes, read through the measure registry
    (sim/measures/registry.py)."""
    gap = measure("gap_points[closed_vs_open]").series(results)
    t27 = _step(results, "2027-12")
    return {
        "gap 2027-12 (pts)": gap[:, t27],
        "gap 2029-12 (pts)": gap[:, -1],
        "CN open 2027-12 (ECI)": measure("frontier_open_cn").series(results)[:, t27],
        "open token share end": measure("token_share[all,open]").series(results)[:, -1],
        "open dollar share end": measure("dollar_share[all,open]").series(results)[:, -1],
        "US share of open tokens": measure("open_usage_share[open_us]").series(results)[:, -1],
        "grants end (USD bn/mo)": measure("sovereign_grants[all]").series(results)[:, -1],
        "runs with a ban": (results.arrays["ban_active"][:, -1].sum(axis=1) > 0).astype(float),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20260401)
    args = parser.parse_args(argv)
    seeds = load_seeds()
    print(f"scenario effects, {args.runs} runs, seed {args.seed} (paired on common random "
          f"numbers)", file=sys.stderr)
    base = simulate(load_scenario(resolve_scenario_path("baseline")), n_runs=args.runs,
                    seed=args.seed, seeds=seeds)
    results = {name: simulate(load_scenario(resolve_scenario_path(name)), n_runs=args.runs,
                              seed=args.seed, seeds=seeds) for name in LIBRARY}
    funding_crunch(base, results["cn-funding-crunch"])
    us_ban(base, results["us-open-ban"])
    print("\n3. headline outcomes: baseline median, then each scenario's median paired "
          "difference from it")
    base_h = headline(base)
    names = list(base_h)
    print(f"  {'scenario':24s}" + "".join(f"{n:>24s}" for n in names))
    print(f"  {'baseline (level)':24s}" + "".join(f"{np.median(base_h[n]):24.3f}" for n in names))
    for name, res in results.items():
        h = headline(res)
        print(f"  {name:24s}" + "".join(f"{np.median(h[n] - base_h[n]):+24.3f}" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
