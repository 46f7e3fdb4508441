"""A small *test* posterior for the bets scorecard until the calibrated one ships (issue 17).

NOT a calibration: 200 particles drawn uniformly, equal weights, over ranges of +-35% around
the baseline's values (flywheel factor 0.05..0.5, bench focus 2..6, robust cost 2..6) of the
parameters the bets' mechanisms turn on, so that the scorecard's drivers and "holds when"
rules can be built and checked. Writes FOLDER/post/ and, next to it, copies of the shipped
scenarios whose baseline names that posterior, plus the bets file, so that

    python experiments/bets-results/test_posterior.py /tmp/tp
    opengap bets --bets-file /tmp/tp/bets.toml --runs 200 --out DIR

scores every bet with a parameter draw per run. Replace with the shipped posterior when it
lands (the scenarios will name it themselves).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
#: parameter (scenario path, schema units) -> (low, high) of the test particles
RANGES = {
    "capability.algo_progress_per_year": (0.30, 0.60),
    "capability.eci_per_log10_flop": (8.5, 10.5),
    "capability.fast_follow_rate": (0.03, 0.07),
    "capability.distill_efficiency": (0.15, 0.45),
    "capability.bench_focus_points": (2.0, 6.0),
    "capability.robust_cost_points": (2.0, 6.0),
    "capability.flywheel_points_per_month": (0.08, 0.22),
    "capability.open_flywheel_factor": (0.05, 0.5),
    "funding.raise_base_probability": (0.3, 0.7),
    "market.open_capture_share": (0.02, 0.1),
}


def main(folder: Path, n: int = 200, seed: int = 2026) -> None:
    rng = np.random.default_rng(seed)
    post = folder / "post"
    post.mkdir(parents=True, exist_ok=True)
    data = {"particle": np.arange(n, dtype=np.int64)}
    data.update({k: rng.uniform(lo, hi, n) for k, (lo, hi) in RANGES.items()})
    data["weight"] = np.full(n, 1.0 / n)
    pq.write_table(pa.table(data), post / "posterior.parquet")
    (post / "posterior.json").write_text(json.dumps({
        "format": "opengap-posterior/1", "cut": "2026-03", "seed": seed,
        "label": "TEST posterior: uniform +-35% around the baseline, not calibrated"}),
        encoding="utf-8")
    for f in (REPO / "scenarios").glob("*.toml"):
        shutil.copy(f, folder / f.name)
    shutil.copytree(REPO / "scenarios" / "fragments", folder / "fragments", dirs_exist_ok=True)
    base = (REPO / "scenarios" / "baseline.toml").resolve()
    (folder / "baseline.toml").write_text(
        f'extends = "{base}"\nname = "baseline"\nposterior = "post"\n', encoding="utf-8")
    shutil.copy(REPO / "experiments" / "bets.toml", folder / "bets.toml")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
