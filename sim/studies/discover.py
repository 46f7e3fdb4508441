"""Scenario discovery: which parameter ranges make an outcome likely (PRIM box search).

Each run of a sweep is a point ``x`` (its parameter values) with a flag ``y`` (the outcome
is at or above a threshold, or at or below it). PRIM (Friedman and Fisher 1999) looks for a
box, a range per parameter, whose runs are mostly cases of interest:

1. **Peeling.** Start from the box holding every run. At each step, try cutting off the
   ``PEEL_ALPHA`` share of the box's runs with the lowest, or the highest, values of one
   parameter (for a parameter with few distinct values: its lowest or highest value); keep
   the cut that leaves the highest share of cases (*density*). Stop when fewer than
   ``min_support`` of all runs remain. This gives a trajectory of shrinking boxes.
2. **Choice.** From the trajectory take the box with the best F-score (beta = 0.5, which
   weights density twice as much as coverage), where *coverage* is the share of all
   cases of interest inside the box; or, given ``min_density``, the box of highest
   coverage whose density reaches it (the densest box if none does).
3. **Simplification.** Drop, one at a time, any restriction whose removal lowers the
   density by less than ``PRUNE_TOLERANCE``, so the rule names only what matters.

Further boxes are searched among the runs outside the earlier ones (the covering
approach). Rules read ``distill_efficiency >= 0.42 and sentiment_volatility <= 0.08:
P(outcome) = 0.81 (n=412, coverage 64%)``: ``n`` runs in the box, a share ``P`` of which
are cases, holding ``coverage`` of all cases.

**Stability: quasi-p values.** Each bound of a box gets the quasi-p value of Bryant and
Lempert (2010), as the EMA workbench computes it: drop that one bound (keep the others), and
ask how likely a density at least the box's would be in ``n`` runs drawn at the density of
the relaxed box (one-sided binomial test). A small value (below 0.05) says the bound matters;
a large one that it may be chance (the box would be about as dense without it). Bounds are
listed with their quasi-p in the report, ``boxes.csv`` / ``boxes.json`` and the figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.studies.sweeps import SweepError

PEEL_ALPHA = 0.05
PRUNE_TOLERANCE = 0.01
F_BETA = 0.5
ID_COLUMNS = ("run", "sample", "replicate")


@dataclass(frozen=True)
class Box:
    """Inclusive bounds ``lo[j] <= x[:, j] <= hi[j]`` (``-inf``/``inf`` where unrestricted)."""

    lo: np.ndarray
    hi: np.ndarray

    def contains(self, x: np.ndarray) -> np.ndarray:
        return np.all((x >= self.lo) & (x <= self.hi), axis=1)

    def without(self, j: int) -> Box:
        lo, hi = self.lo.copy(), self.hi.copy()
        lo[j], hi[j] = -np.inf, np.inf
        return Box(lo, hi)


@dataclass(frozen=True)
class BoxStats:
    """A box, its runs ``n``, density and coverage; ``qp``: (parameter index, side,
    quasi-p value) per bound, for the boxes :func:`find_boxes` returns."""

    box: Box
    n: int
    density: float
    coverage: float
    qp: tuple[tuple[int, str, float], ...] = ()


def _stats(box: Box, x: np.ndarray, y: np.ndarray, n_cases: int) -> BoxStats:
    inside = box.contains(x)
    n = int(inside.sum())
    hits = int(y[inside].sum())
    return BoxStats(box, n, hits / n if n else 0.0, hits / n_cases if n_cases else 0.0)


def _peel_candidates(box: Box, x: np.ndarray, inside: np.ndarray) -> list[Box]:
    out = []
    for j in range(x.shape[1]):
        xs = x[inside, j]
        values = np.unique(xs)
        if len(values) < 2:
            continue
        lo_q, hi_q = np.quantile(xs, [PEEL_ALPHA, 1 - PEEL_ALPHA])
        # Cut at least the lowest (highest) distinct value, so discrete parameters peel too.
        new_lo = max(lo_q, values[1]) if lo_q <= values[0] else lo_q
        new_hi = min(hi_q, values[-2]) if hi_q >= values[-1] else hi_q
        lo = box.lo.copy()
        lo[j] = values[values >= new_lo][0]
        hi = box.hi.copy()
        hi[j] = values[values <= new_hi][-1]
        out.append(Box(lo, box.hi.copy()))
        out.append(Box(box.lo.copy(), hi))
    return out


def peel(x: np.ndarray, y: np.ndarray, min_support: float) -> list[BoxStats]:
    """The peeling trajectory, from the box of all runs to the last box above support."""
    n_all, n_cases = len(y), int(y.sum())
    box = Box(np.full(x.shape[1], -np.inf), np.full(x.shape[1], np.inf))
    trajectory = [_stats(box, x, y, n_cases)]
    while True:
        inside = box.contains(x)
        best: BoxStats | None = None
        for cand in _peel_candidates(box, x, inside):
            s = _stats(cand, x, y, n_cases)
            if s.n < min_support * n_all or s.n == 0:
                continue
            if best is None or (s.density, s.n) > (best.density, best.n):
                best = s
        if best is None:
            return trajectory
        box = best.box
        trajectory.append(best)


def _f_score(s: BoxStats) -> float:
    b2 = F_BETA ** 2
    denom = b2 * s.density + s.coverage
    return (1 + b2) * s.density * s.coverage / denom if denom > 0 else 0.0


def _simplify(s: BoxStats, x: np.ndarray, y: np.ndarray, n_cases: int) -> BoxStats:
    changed = True
    while changed:
        changed = False
        restricted = [j for j in range(x.shape[1])
                      if np.isfinite(s.box.lo[j]) or np.isfinite(s.box.hi[j])]
        options = [_stats(s.box.without(j), x, y, n_cases) for j in restricted]
        options = [o for o in options if o.density >= s.density - PRUNE_TOLERANCE]
        if options:
            s = max(options, key=lambda o: (o.density, o.n))
            changed = True
    return s


def _tidy_bounds(box: Box, x: np.ndarray) -> Box:
    """Drop bounds that no run lies beyond (they restrict nothing)."""
    lo, hi = box.lo.copy(), box.hi.copy()
    lo[lo <= x.min(axis=0)] = -np.inf
    hi[hi >= x.max(axis=0)] = np.inf
    return Box(lo, hi)


def choose_box(trajectory: list[BoxStats], min_density: float | None) -> BoxStats:
    if min_density is None:
        return max(trajectory, key=_f_score)
    dense = [s for s in trajectory if s.density >= min_density]
    if not dense:
        return max(trajectory, key=lambda s: (s.density, s.n))
    return max(dense, key=lambda s: (s.coverage, s.density))


def find_boxes(x: np.ndarray, y: np.ndarray, *, max_boxes: int = 2,
               min_support: float = 0.05,
               min_density: float | None = None) -> list[BoxStats]:
    """Up to ``max_boxes`` boxes (stats relative to all runs and all cases)."""
    n_cases = int(y.sum())
    remaining = np.ones(len(y), dtype=bool)
    boxes: list[BoxStats] = []
    for _ in range(max_boxes):
        xr, yr = x[remaining], y[remaining]
        if yr.sum() == 0 or len(yr) == 0:
            break
        trajectory = peel(xr, yr, min_support * len(y) / len(yr))
        chosen = choose_box(trajectory, min_density)
        chosen = _simplify(chosen, xr, yr, int(yr.sum()))
        box = _tidy_bounds(chosen.box, x)
        if not (np.isfinite(box.lo).any() or np.isfinite(box.hi).any()):
            break  # no restriction helps: the outcome does not depend on these ranges
        inside = box.contains(x) & remaining
        hits = int(y[inside].sum())
        n = int(inside.sum())
        boxes.append(BoxStats(box, n, hits / n if n else 0.0, hits / n_cases,
                              tuple(quasi_p(box, x[remaining], y[remaining]))))
        remaining &= ~inside
    return boxes


def quasi_p(box: Box, x: np.ndarray, y: np.ndarray) -> list[tuple[int, str, float]]:
    """(parameter index, ``lower``/``upper``, quasi-p value) for each finite bound of
    ``box`` over runs ``x``, flags ``y`` (see the module docstring)."""
    from scipy.stats import binom

    inside = box.contains(x)
    n, hits = int(inside.sum()), int(y[inside].sum())
    out = []
    for j in range(x.shape[1]):
        for side, bounds in (("lower", box.lo), ("upper", box.hi)):
            if not np.isfinite(bounds[j]):
                continue
            lo, hi = box.lo.copy(), box.hi.copy()
            (lo if side == "lower" else hi)[j] = -np.inf if side == "lower" else np.inf
            relaxed = Box(lo, hi).contains(x)
            p = y[relaxed].mean() if relaxed.any() else 0.0
            out.append((j, side, float(binom.sf(hits - 1, n, p)) if n else float("nan")))
    return out


def _num(v: float, integer: bool) -> str:
    return str(int(v)) if integer else f"{v:.3g}"


def rule_text(box: Box, names: list[str], integer: list[bool]) -> str:
    parts = []
    for j, name in enumerate(names):
        lo, hi = box.lo[j], box.hi[j]
        if lo == hi:
            parts.append(f"{name} == {_num(lo, integer[j])}")
        elif np.isfinite(lo) and np.isfinite(hi):
            parts.append(f"{_num(lo, integer[j])} <= {name} <= {_num(hi, integer[j])}")
        elif np.isfinite(lo):
            parts.append(f"{name} >= {_num(lo, integer[j])}")
        elif np.isfinite(hi):
            parts.append(f"{name} <= {_num(hi, integer[j])}")
    return " and ".join(parts) or "(any parameters)"


def _load(results: Path) -> tuple[pa.Table, Path]:
    path = results / "runs.parquet" if results.is_dir() else results
    if not path.is_file():
        raise SweepError(f"{results}: no sweep results here (expected a sweep's output folder "
                         "or its runs.parquet)")
    try:
        return pq.read_table(path), path
    except (pa.ArrowInvalid, OSError) as exc:
        raise SweepError(f"{path}: not a readable Parquet file ({exc})") from None


def _parameter_columns(table: pa.Table, path: Path) -> list[str]:
    manifest = path.parent / "manifest.json"
    if manifest.is_file():
        try:
            return [p["path"] for p in json.loads(manifest.read_text())["parameters"]]
        except (ValueError, KeyError, TypeError):
            pass
    return [c for c in table.column_names if c not in ID_COLUMNS and "@" not in c]


def discover(table: pa.Table, path: Path, *, outcome: str, threshold: float,
             below: bool = False, max_boxes: int = 2, min_support: float = 0.05,
             min_density: float | None = None, found: dict | None = None) -> str:
    """The report printed by ``opengap discover``. ``found``, if given, receives the boxes
    and data (``names``, ``integer``, ``boxes``, ``x``, ``y``, ...) for
    :func:`box_records` and the figure."""
    outcomes = [c for c in table.column_names if "@" in c]
    if outcome not in table.column_names:
        raise SweepError(f"{path}: --outcome {outcome}: no such column; allowed: "
                         f"{', '.join(outcomes) or 'none'}")
    names = [c for c in _parameter_columns(table, path) if c in table.column_names]
    numeric = [c for c in names if pa.types.is_integer(table.schema.field(c).type)
               or pa.types.is_floating(table.schema.field(c).type)]
    skipped = [c for c in names if c not in numeric]
    if not numeric:
        raise SweepError(f"{path}: no numeric parameter columns to search over")
    values = table.column(outcome).to_numpy(zero_copy_only=False).astype(float)
    keep = ~np.isnan(values)
    x = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(float)
                         for c in numeric])[keep]
    v = values[keep]
    y = (v <= threshold) if below else (v >= threshold)
    op = "<=" if below else ">="
    lines = [f"cases of interest: {outcome} {op} {threshold:g}: {int(y.sum())} of {len(y)} "
             f"runs ({y.mean():.1%})" if len(y) else f"{outcome}: every value is NaN"]
    if (~keep).any():
        lines.append(f"  ({int((~keep).sum())} runs with {outcome} NaN left out)")
    if skipped:
        lines.append(f"  (non-numeric parameters not searched: {', '.join(skipped)})")
    if not len(y) or y.all() or not y.any():
        lines.append("no box: the cases of interest are " + ("all runs" if len(y) and y.all()
                                                             else "absent"))
        return "\n".join(lines)
    integer = [pa.types.is_integer(table.schema.field(c).type) for c in numeric]
    boxes = find_boxes(x, y, max_boxes=max_boxes, min_support=min_support,
                       min_density=min_density)
    if not boxes:
        lines.append("no box: no parameter range makes the outcome more likely than overall "
                     f"({y.mean():.2f})")
    inside_any = np.zeros(len(y), dtype=bool)
    for k, s in enumerate(boxes, 1):
        where = "" if k == 1 else f" (runs outside box{'es' if k > 2 else ''} 1" + (
            f"-{k - 1})" if k > 2 else ")")
        lines.append(f"box {k}{where}: {rule_text(s.box, numeric, integer)}: P(outcome) = "
                     f"{s.density:.2f} (n={s.n}, coverage {s.coverage:.0%})")
        for j, side, p in s.qp:
            bound = s.box.lo[j] if side == "lower" else s.box.hi[j]
            verdict = "significant" if p < 0.05 else "NOT significant (may be chance)"
            lines.append(f"    {numeric[j]} {'>=' if side == 'lower' else '<='} "
                         f"{_num(bound, integer[j])}: quasi-p {p:.2g}, {verdict}")
        inside_any |= s.box.contains(x)
    rest = ~inside_any
    if boxes and rest.any():
        lines.append(f"elsewhere: P(outcome) = {y[rest].mean():.2f} (n={int(rest.sum())})")
    if found is not None:
        found.update(names=numeric, integer=integer, boxes=boxes, x=x, y=y,
                     outcome=outcome, threshold=threshold, below=below)
    return "\n".join(lines)


def box_records(found: dict) -> list[dict]:
    """One record per (box, restricted bound) of a :func:`discover` result (``found``):
    box, parameter, side, bound, quasi-p, and the box's n, density and coverage."""
    rows = []
    for k, s in enumerate(found["boxes"], 1):
        for j, side, p in s.qp:
            rows.append({"box": k, "parameter": found["names"][j], "side": side,
                         "bound": float(s.box.lo[j] if side == "lower" else s.box.hi[j]),
                         "quasi_p": p, "n": s.n, "density": s.density,
                         "coverage": s.coverage})
    return rows


def discover_from_file(results: Path, **kwargs: object) -> str:
    table, path = _load(results)
    return discover(table, path, **kwargs)  # type: ignore[arg-type]
