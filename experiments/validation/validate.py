"""Validation of the money -> capability channel (issue 15, "What to show").

Every check compares the model with a figure from the record that no parameter was fit or
tuned on; the founding dates of the entrants and the one-lab-cut timing included.

    PYTHONPATH=. python experiments/validation/validate.py [--runs N] [--seed S]
        [--history-posterior DIR] [--fixed-parameters]

Runs the checks and prints ONE table: check | record | model median [10%, 90%] | inside?
The table is also written to ``experiments/validation/validation.txt``.

Parameters (issue 17): the shipped scenarios draw each run's parameters from the posterior
they name (``scenarios/posteriors/whole-record``, calibrated on the record through 2026-03).
The ``history-2023`` checks, which compare the 2023-2026 run with the record of 2025-2026,
would be in-sample under that posterior; so ``history-2023`` is run with the backtest's
posterior instead (``--history-posterior``, default
``experiments/backtest/posterior-through-2024-12``: data through 2024-12 only), and its
checks of 2025-2026 stay out of sample. ``--fixed-parameters`` runs everything at the
scenarios' written values (what the table showed before issue 17).
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from sim.calendar import parse_month
from sim.core.engine import simulate, step
from sim.core.parameter_draws import parameters_phrase, runs_world
from sim.core.rng import RandomStreams
from sim.core.world import build_world, initial_state
from sim.inputs.scenario import load_scenario
from sim.inputs.seeds import load_seeds
from sim.vocab import CAMPS, OUTPUT_CAMPS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _q(x: np.ndarray) -> str:
    x = np.asarray(x, dtype=float)
    lo, mid, hi = np.nanpercentile(x, [10, 50, 90])
    return f"{mid:.3g} [{lo:.3g}, {hi:.3g}]"


#: Scenario files by name; main() points history-2023 at a file naming the backtest's
#: posterior and every name at a fixed-parameter copy under --fixed-parameters.
SCENARIO_FILES: dict[str, Path] = {}


def _scenario(name: str):
    return load_scenario(SCENARIO_FILES.get(name, ROOT / "scenarios" / f"{name}.toml"))


def _run(name: str, runs: int, seed: int):
    return simulate(_scenario(name), n_runs=runs, seed=seed)


def _trace(name: str, runs: int, seed: int) -> tuple[dict[str, np.ndarray], object]:
    """Per-lab monthly state of ``name`` (the engine's own ``step``): ``bench``,
    ``contract`` (H100e under contract while a run is in progress) and ``entered``, each
    (runs, months, labs), and the world."""
    scenario = _scenario(name)
    seeds = load_seeds(start=scenario.time.start)
    world = build_world(scenario, seeds)
    # Under posterior draws each run gets its own parameters (and initial state).
    world, state = runs_world(scenario, world, seeds, seed, np.arange(runs))
    if state is None:
        state = initial_state(world, seeds, runs)
    streams = RandomStreams.for_population(seed, np.arange(runs), world.population)
    out: dict[str, list[np.ndarray]] = {"bench": [], "contract": [], "entered": []}
    for t in range(world.params.n_months):
        state, _ = step(world, state, streams.month(t))
        out["bench"].append(state.bench.copy())
        out["contract"].append(np.where(state.run_months_left > 0, state.contract_h100e, 0.0))
        out["entered"].append(state.entered.copy())
    return {k: np.stack(v, axis=1) for k, v in out.items()}, world


def _best(trace: dict[str, np.ndarray], labs: np.ndarray) -> np.ndarray:
    """(runs, months) best released bench score among the entered labs flagged in
    ``labs``."""
    return np.where(trace["entered"][:, :, labs], trace["bench"][:, :, labs],
                    -np.inf).max(axis=2)


def _lab_gap(name: str, lab_id: str, runs: int, seed: int) -> np.ndarray:
    """(runs, months) ECI points by which ``lab_id`` trails the best released model of its
    own camp (labs that have entered), month by month."""
    trace, world = _trace(name, runs, seed)
    pop = world.population
    lab = pop.lab_ids.index(lab_id)
    return _best(trace, pop.lab_camp == pop.lab_camp[lab]) - trace["bench"][:, :, lab]


def _cheapest_at(results, floor: float) -> np.ndarray:
    """(runs, months) USD/Mtok of the cheapest model on offer scoring at least ``floor``
    ECI points (NaN while none does)."""
    price = results.arrays["lab_price"]
    ok = (results.arrays["lab_bench"] >= floor) & np.isfinite(price)
    return np.where(ok.any(axis=2), np.where(ok, price, np.inf).min(axis=2), np.nan)


def _yearly_fall(series: np.ndarray) -> np.ndarray:
    """(runs,) yearly factor by which a (runs, months) series fell from its first defined
    month to its last (NaN where it is defined for less than a year)."""
    out = np.full(series.shape[0], np.nan)
    for r, row in enumerate(series):
        months = np.flatnonzero(np.isfinite(row))
        if len(months) and months[-1] - months[0] >= 12:
            first, last = months[0], months[-1]
            out[r] = (row[first] / row[last]) ** (12.0 / (last - first))
    return out


def demand_checks(hist, base, seeds26) -> list[tuple[str, str, str, str]]:
    """Issue 16's checks: token growth, the 2026 level, the price of a fixed capability,
    and token and dollar shares by camp and segment (none used to fit anything)."""
    rows = []
    start = parse_month("2023-01")
    tokens = hist.arrays["tokens"].sum(axis=(2, 3))  # (R, T) all served tokens
    y24, y26 = parse_month("2024-01") - start, parse_month("2026-01") - start
    growth = (tokens[:, y26] / tokens[:, y24]) ** 0.5
    rows.append(("history-2023: total tokens, yearly growth over 2024-2025 (x/yr)",
                 ">= 10 (Google 32x, China 37x)", _q(growth),
                 "yes" if np.percentile(growth, 10) >= 10 else "no"))
    segs = seeds26.segments.tokens_t_per_month.sum()
    r = tokens[:, -1] / segs
    rows.append(("history-2023: total tokens 2026-03 / 2026-04 seeds", "within [0.5, 2]",
                 _q(r), "yes" if np.percentile(r, 10) >= 0.5 and np.percentile(r, 90) <= 2
                 else "no"))
    closed = CAMPS.index("closed")
    seeded_rev = seeds26.labs.revenue_usd_bn_per_month[seeds26.labs.camp == closed].sum()
    r = hist.arrays["revenue"][:, -1, closed] / seeded_rev
    rows.append(("history-2023: closed revenue 2026-03 / 2026-04 seeds", "within [0.5, 2]",
                 _q(r), "yes" if np.percentile(r, 10) >= 0.5 and np.percentile(r, 90) <= 2
                 else "no"))
    for label, results, floor in (("history-2023", hist, 130.0), ("baseline", base, 150.0)):
        fall = _yearly_fall(_cheapest_at(results, floor))
        inside = np.nanpercentile(fall, 10) >= 9 and np.nanpercentile(fall, 90) <= 900
        rows.append((f"{label}: price of the cheapest model >= ECI {floor:.0f}, fall (x/yr)",
                     "9-900 (Epoch, fixed capability)", _q(fall), "yes" if inside else "no"))
    # Token and dollar shares of the open camps, all segments and by segment.
    for label, results, months in (("history-2023", hist, ("2023-12", "2024-12", "2025-12")),
                                   ("baseline", base, ("2026-04", "2027-12", "2029-12"))):
        first = parse_month(results.scenario.time.start)
        tok, spend = results.arrays["tokens"], results.arrays["spend"]  # (R, T, K, C4)
        for month in months:
            t = parse_month(month) - first
            for what, arr in (("tokens", tok), ("dollars", spend)):
                total = arr[:, t].sum(axis=(1, 2))
                share = arr[:, t, :, 1:].sum(axis=(1, 2)) / np.where(total > 0, total, np.nan)
                record = ("OpenRouter 2025: ~20-33%" if what == "tokens"
                          else "OpenRouter 2025: ~4%") if month.startswith("2025") else "-"
                rows.append((f"{label}: open share of {what}, {month}", record, _q(share), "-"))
        t = parse_month(months[-1]) - first
        for k, segment in enumerate(results.world.population.segments):
            total = tok[:, t, k].sum(axis=1)
            share = tok[:, t, k, 1:].sum(axis=1) / np.where(total > 0, total, np.nan)
            rows.append((f"  {label}: open token share in {segment}, {months[-1]}", "-",
                         _q(share), "-"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20260401)
    ap.add_argument("--history-posterior", type=Path,
                    default=ROOT / "experiments" / "backtest" / "posterior-through-2024-12",
                    help="posterior folder history-2023 draws from (data through its cut "
                         "only)")
    ap.add_argument("--fixed-parameters", action="store_true",
                    help="run every scenario at its written parameter values")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opengap-validate-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    if args.fixed_parameters:
        for name in ("baseline", "cn-funding-crunch", "us-open-resurgence",
                     "export-controls-tighten", "one-lab-cut", "history-2023"):
            SCENARIO_FILES[name] = tmp / f"{name}.toml"
            SCENARIO_FILES[name].write_text(
                f'extends = "{(ROOT / "scenarios" / f"{name}.toml").as_posix()}"\n'
                f'name = "{name}"\nfixed_parameters = true\n', encoding="utf-8")
    elif (args.history_posterior / "posterior.parquet").exists():
        SCENARIO_FILES["history-2023"] = tmp / "history-2023.toml"
        SCENARIO_FILES["history-2023"].write_text(
            f'extends = "{(ROOT / "scenarios" / "history-2023.toml").as_posix()}"\n'
            'name = "history-2023"\n'
            f'posterior = "{args.history_posterior.resolve().as_posix()}"\n',
            encoding="utf-8")
    rows: list[tuple[str, str, str, str]] = []
    cn, us, closed = (OUTPUT_CAMPS.index(c) for c in ("open_cn", "open_us", "closed"))

    base = _run("baseline", args.runs, args.seed)
    crunch = _run("cn-funding-crunch", args.runs, args.seed)
    shock = parse_month("2026-10") - parse_month("2026-04")
    fb, fc = base.arrays["bench_frontier"], crunch.arrays["bench_frontier"]
    for k in (6, 12, 24):
        d = fc[:, shock + k, cn] - fb[:, shock + k, cn]
        rows.append((f"cn-funding-crunch: CN open frontier delta +{k} mo (ECI)", "none set",
                     _q(d), "-"))
    gap_delta = ((fc[:, :, closed] - fc[:, :, cn]) - (fb[:, :, closed] - fb[:, :, cn]))[:, shock:]
    wide = gap_delta >= 2.0
    months = np.where(wide.any(axis=1), wide.argmax(axis=1), np.nan)
    rows.append(("cn-funding-crunch: months until CN gap +2 ECI (paired)", "none set",
                 f"{_q(months)}; widened in {np.mean(~np.isnan(months)):.0%} of runs", "-"))
    ci = CAMPS.index("open_cn")
    window = slice(shock, shock + 24)
    for flow in ("raised", "runs_cancelled", "runs_delayed", "planned_flop",
                 "contracted_h100e"):
        b = base.arrays[flow][:, window, ci].sum(axis=1)
        c = crunch.arrays[flow][:, window, ci].sum(axis=1)
        ratio = np.where(b > 0, c / np.where(b > 0, b, 1.0), np.nan)
        rows.append((f"  decomposition, CN open 24 mo after shock: {flow} crunch/base",
                     "none set", _q(ratio) if np.isfinite(ratio).any()
                     else f"base {b.mean():.3g}, crunch {c.mean():.3g}", "-"))

    # Who the crunch reaches: Chinese open labs that live on rounds (no corporate parent)
    # against those a parent funds (Alibaba, Tencent, High-Flyer), which the crunch does not.
    tb, world = _trace("baseline", args.runs, args.seed)
    tc, _ = _trace("cn-funding-crunch", args.runs, args.seed)
    pop = world.population
    cn_open = pop.lab_camp == CAMPS.index("open_cn")
    own_rounds = cn_open & (world.parent_budget[0] == 0)
    for label, labs in (("on rounds (no parent)", own_rounds),
                        ("parent-funded", cn_open & ~own_rounds)):
        for k in (6, 12, 24):
            d = _best(tc, labs)[:, shock + k] - _best(tb, labs)[:, shock + k]
            rows.append((f"  CN open labs {label}: best model delta +{k} mo (ECI)",
                         "none set", _q(d), "-"))
        b = tb["contract"][:, window][:, :, labs].sum(axis=(1, 2))
        c = tc["contract"][:, window][:, :, labs].sum(axis=(1, 2))
        rows.append((f"  CN open labs {label}: H100e under contract, 24 mo, crunch/base",
                     "none set", _q(c / np.where(b > 0, b, np.nan)), "-"))
    lead_base = (_best(tb, own_rounds) >= _best(tb, cn_open))[:, shock:].mean()
    rows.append(("  share of months after the shock the CN open frontier is a lab on rounds",
                 "none set", f"{lead_base:.2f} (baseline)", "-"))

    for name in ("us-open-resurgence", "export-controls-tighten"):
        alt = _run(name, args.runs, args.seed)
        fa = alt.arrays["bench_frontier"]
        for camp in ("open_us", "open_cn", "closed"):
            j = OUTPUT_CAMPS.index(camp)
            rows.append((f"{name}: {camp} frontier delta at end (ECI)", "none set",
                         _q(fa[:, -1, j] - fb[:, -1, j]), "-"))

    cut_month = parse_month("2026-07") - parse_month("2026-04")
    g_base = _lab_gap("baseline", "moonshot", args.runs, args.seed)
    g_cut = _lab_gap("one-lab-cut", "moonshot", args.runs, args.seed)
    behind = (g_cut - g_base)[:, cut_month:] >= 2.0
    m_behind = np.where(behind.any(axis=1), behind.argmax(axis=1), np.nan)
    share = np.mean(~np.isnan(m_behind))
    rows.append(("one-lab-cut: months until Moonshot trails its camp by +2 ECI (paired)",
                 "~12 (01.AI, Inflection)",
                 f"{_q(m_behind)}; in {share:.0%} of runs",
                 "yes" if share >= 0.5 and np.nanmedian(m_behind) <= 18 else "no"))
    for k in (12, 24):
        if cut_month + k < g_cut.shape[1]:
            rows.append((f"  one-lab-cut: Moonshot's gap to its camp, cut - base, +{k} mo (ECI)",
                         "none set", _q(g_cut[:, cut_month + k] - g_base[:, cut_month + k]),
                         "-"))

    hist = _run("history-2023", args.runs, args.seed)
    h = hist.arrays["bench_frontier"]
    split = parse_month("2024-04") - parse_month("2023-01")
    n = h.shape[1]
    before = (h[:, split, closed] - h[:, 0, closed]) / (split / 12)
    after = (h[:, n - 1, closed] - h[:, split, closed]) / ((n - 1 - split) / 12)
    ratio = after / before
    lo, mid, hi = np.percentile(ratio, [10, 50, 90])
    rows.append(("history-2023: closed slope after/before 2024-04", "~1.9 (15.5 / 8.3)",
                 _q(ratio), "yes" if lo <= 1.9 <= hi else "no"))
    largest = hist.arrays["largest_run_flop"]
    growth = (largest[:, -1] / largest[:, 0]) ** (12 / (n - 1))
    lo, hi = np.percentile(growth, [10, 90])
    rows.append(("history-2023: growth of largest run 2023-2026 (x/yr)", "~4-5 (Epoch)",
                 _q(growth), "yes" if lo <= 5 and hi >= 4 else "no"))
    y25 = parse_month("2025-01") - parse_month("2023-01")
    lead = (h[:, y25:, cn] > h[:, y25:, us]).mean(axis=1)
    rows.append(("history-2023: share of 2025-26 months CN open > US open", "~1 (ECI record)",
                 _q(lead), "yes" if np.median(lead) >= 0.8 else "no"))
    entries = hist.arrays["entries"].sum(axis=2)  # (R, T)
    y23 = parse_month("2023-12") - parse_month("2023-01")
    rows.append(("history-2023: entrants in by 2023-12 (of 5 slots)",
                 "5 (founded 2023-03..07)", _q(entries[:, :y23 + 1].sum(axis=1)),
                 "yes" if np.median(entries[:, :y23 + 1].sum(axis=1)) >= 4 else "no"))
    seeds26 = load_seeds()
    seeded = seeds26.labs.compute_h100e[seeds26.labs.camp == CAMPS.index("closed")].sum()
    model = (hist.arrays["compute"][:, -1, CAMPS.index("closed")]
             + hist.arrays["contracted_h100e"][:, -1, CAMPS.index("closed")])
    r = model / seeded
    lo, hi = np.percentile(r, [10, 90])
    rows.append(("history-2023: closed compute 2026-03 / 2026-04 seeds (owned + contracted)",
                 "within [0.5, 2]", _q(r), "yes" if lo >= 0.5 and hi <= 2 else "no"))

    rows.extend(demand_checks(hist, base, seeds26))

    width = max(len(r[0]) for r in rows)
    out = [f"{'check':<{width}} | record | model median [10%, 90%] | inside?"]
    out += [f"{c:<{width}} | {rec} | {m} | {ok}" for c, rec, m, ok in rows]
    text = "\n".join(out) + (
        f"\n({args.runs} runs per scenario, seed {args.seed}; baseline and its scenarios: "
        f"{parameters_phrase(_scenario('baseline'))}; history-2023: "
        f"{parameters_phrase(_scenario('history-2023'))})\n")
    print(text)
    (HERE / "validation.txt").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
