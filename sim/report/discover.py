"""Scenario discovery on disk: the boxes of ``opengap discover`` as CSV, JSON and a figure.

:func:`write_discovery` writes, for one outcome and threshold, ``<stem>.csv`` and
``<stem>.json`` (one record per box and restricted bound: parameter, side, bound, quasi-p
value, and the box's runs, density and coverage; the JSON adds the question asked) and
``<stem>.png``: each box's limits drawn within the sampled range of each parameter (0 = its
lowest sampled value, 1 = its highest), labelled with the bound and its quasi-p value.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from sim.files import write_text_atomic
from sim.studies.discover import box_records

FIELDS = ("box", "parameter", "side", "bound", "quasi_p", "n", "density", "coverage")


def stem_for(outcome: str) -> str:
    """File stem for an outcome: ``discover_gap_points_2027-12``."""
    return "discover_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", outcome).strip("_")


def write_discovery(found: dict[str, Any], out: Path) -> list[Path]:
    """Write the CSV, JSON and PNG of a :func:`sim.studies.discover.discover` result into
    ``out`` (created if missing); returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    stem = stem_for(found["outcome"])
    rows = box_records(found)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths = [out / f"{stem}.csv", out / f"{stem}.json", out / f"{stem}.png"]
    write_text_atomic(paths[0], buf.getvalue())
    op = "<=" if found["below"] else ">="
    doc = {"outcome": found["outcome"], "cases": f"{found['outcome']} {op} {found['threshold']}",
           "runs": int(len(found["y"])), "cases_share": float(np.mean(found["y"])),
           "boxes": [{"box": k, "n": s.n, "density": s.density, "coverage": s.coverage,
                      "bounds": [r for r in rows if r["box"] == k]}
                     for k, s in enumerate(found["boxes"], 1)],
           "quasi_p": "one-sided binomial test of the box's density against the box without "
                      "that bound (Bryant and Lempert 2010); below 0.05: the bound matters"}
    write_text_atomic(paths[1], json.dumps(doc, indent=2) + "\n")
    _figure(found, rows, paths[2])
    return paths


def _figure(found: dict[str, Any], rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.report.figures import save_figure

    x, names = found["x"], found["names"]
    lo_all, hi_all = x.min(axis=0), x.max(axis=0)
    boxes = found["boxes"]
    n_box = max(1, len(boxes))
    fig, axes = plt.subplots(1, n_box, figsize=(7 * n_box, 2.2 + 0.55 * len(names)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat, 1):
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.invert_yaxis()
        ax.set_xlabel("position within the sampled range (0 = lowest, 1 = highest value)")
        ax.grid(axis="x", alpha=0.3)
        if k > len(boxes):
            ax.set_title("no box found")
            continue
        s = boxes[k - 1]
        span = np.where(hi_all > lo_all, hi_all - lo_all, 1.0)
        for j in range(len(names)):
            lo = 0.0 if not np.isfinite(s.box.lo[j]) else (s.box.lo[j] - lo_all[j]) / span[j]
            hi = 1.0 if not np.isfinite(s.box.hi[j]) else (s.box.hi[j] - lo_all[j]) / span[j]
            ax.plot([0, 1], [j, j], color="0.85", lw=6, solid_capstyle="butt",
                    label="sampled range" if j == 0 else None)
            restricted = np.isfinite(s.box.lo[j]) or np.isfinite(s.box.hi[j])
            ax.plot([lo, hi], [j, j], color="tab:blue" if restricted else "0.6", lw=6,
                    solid_capstyle="butt", label="box" if j == 0 else None)
            if restricted and lo == hi:  # a single value
                ax.plot([lo], [j], "o", color="tab:blue", ms=7)
        for r in (r for r in rows if r["box"] == k):
            j = names.index(r["parameter"])
            pos = (r["bound"] - lo_all[j]) / span[j]
            colour = "tab:green" if r["quasi_p"] < 0.05 else "tab:red"
            lower = r["side"] == "lower"
            ax.annotate(f"{'>=' if lower else '<='} {r['bound']:.3g} (qp {r['quasi_p']:.2g})",
                        (pos, j), xytext=(-3 if lower else 3, 7), textcoords="offset points",
                        ha="right" if lower else "left", fontsize=7, color=colour)
        ax.set_title(f"box {k}: P(case) {s.density:.2f}, n={s.n}, coverage "
                     f"{s.coverage:.0%}", fontsize=9)
    op = "<=" if found["below"] else ">="
    fig.suptitle(f"scenario discovery: {found['outcome']} {op} {found['threshold']:g} "
                 f"({int(np.sum(found['y']))} of {len(found['y'])} runs)", fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8,
               title="bounds: quasi-p < 0.05 green (the bound matters), else red",
               title_fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    save_figure(fig, path, dpi=110)
