"""Throughput and memory of ``opengap sweep``.

What it measures:

* **Parallel speed-up.** Runs per second of the 2,000-run LHS sweep of the baseline
  (``experiments/sweeps/baseline-lhs.toml``: 400 parameter sets x 5 replicates, full
  horizon 2026-04..2029-12) with the local backend on 1 worker (chunks run in the driver
  process: what ``--workers 1`` does) and on 2 workers (a process pool). The 1-worker run is
  the reference: ``speed-up = rate(2) / rate(1)``, target >= 1.7. Timings cover the whole
  command (start-up, design, simulation, chunk files, final tables), in a fresh
  subprocess each, wall clock. The CPU time spent inside chunks (summed over workers) is
  printed too: equal totals on 1 and 2 workers mean the parallel version does no extra
  work, so a shortfall in speed-up comes from cores taken by other processes.
* **Stacking.** The same sweep on 1 worker with one engine batch per parameter set
  (``STACK_RUNS = 1``), the reference for the gain from running many parameter sets in one
  vectorized batch (``sim/studies/sweeps/stacked.py``); ``--no-unstacked`` skips it.
* **Peak memory.** A 20,000-run sweep (the same parameters, 2,000 sets x 10 replicates) on
  2 workers; horizon to 2027-12 (21 months) by default to keep the benchmark to minutes,
  the full horizon with ``--full``. The sweep runs in a child process that reports its own
  peak resident set (``ru_maxrss``) and the largest peak of the worker processes (each
  chunk result carries its worker's ``ru_maxrss``); the machine-wide peak is at most
  ``driver + workers x worker``. Target: under 2 GiB.

The machine may be shared: other processes on the same cores lower the 2-worker rate most,
so read the speed-up with the load average printed next to it.

Usage: ``python experiments/bench_sweep.py [--quick] [--full] [--no-unstacked]
[--no-memory]``; ``--quick`` shrinks the sweeps to seconds (a smoke test, not a benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LHS_SPEC = ROOT / "experiments" / "sweeps" / "baseline-lhs.toml"
GIB = 1024**3

# Runs inside the child: run the sweep, then report the peak RSS of this process and of its
# largest worker, in bytes (Linux reports ru_maxrss in KiB).
CHILD = """
import json, resource, sys
from pathlib import Path
from sim.studies.sweeps.run import run_sweep
from sim.studies.sweeps.spec import load_spec
import sim.studies.sweeps.chunks as chunks
if sys.argv[4] == "unstacked":
    chunks.STACK_RUNS = 1  # one engine batch per parameter set (its replicates)
spec = load_spec(sys.argv[1])
summary = run_sweep(spec, Path(sys.argv[2]), workers=int(sys.argv[3]), stream=sys.stderr)
scale = 1 if sys.platform == "darwin" else 1024
print(json.dumps({"runs": summary.runs,
                  "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
                  "workers": summary.worker_peak_bytes, "cpu": summary.cpu_seconds}))
"""


def lhs_spec_text(samples: int, replicates: int, end: str | None) -> str:
    """The baseline-lhs spec with another size (and horizon), base scenario by path."""
    text = LHS_SPEC.read_text(encoding="utf-8")
    text = text.replace('scenario = "baseline"',
                        f'scenario = "{(ROOT / "scenarios" / "baseline.toml").as_posix()}"')
    text = text.replace("samples = 400", f"samples = {samples}")
    text = text.replace("replicates = 5", f"replicates = {replicates}")
    if end is not None:
        text = text.replace("[parameters.", f'[overrides]\n"time.end" = "{end}"\n\n'
                            "[parameters.", 1)
        text = text.replace("@2027-12", "@end")  # inside any horizon
    return text


def run_child(spec: Path, out: Path, workers: int,
              mode: str = "stacked") -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(spec), str(out), str(workers), mode],
                          capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"sweep failed with status {proc.returncode}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sweeps (smoke test)")
    parser.add_argument("--full", action="store_true",
                        help="full horizon for the 20,000-run memory sweep")
    parser.add_argument("--no-unstacked", action="store_true",
                        help="skip the reference sweep without stacked batches")
    parser.add_argument("--no-memory", action="store_true", help="skip the 20,000-run sweep")
    args = parser.parse_args(argv)
    if args.quick:
        speed = (4, 1, "2026-06")
        memory = (4, 2, "2026-06")
    else:
        speed = (400, 5, None)
        memory = (2000, 10, None if args.full else "2027-12")
    print(f"opengap sweep benchmark ({'quick' if args.quick else 'full'}): "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = folder / "speed.toml"
        spec.write_text(lhs_spec_text(*speed), encoding="utf-8")
        n_runs = speed[0] * speed[1]
        rates = {}
        for workers in (1, 2):
            seconds, info = run_child(spec, folder / f"speed-{workers}", workers)
            rates[workers] = n_runs / seconds
            print(f"  LHS sweep, {n_runs:,} runs, {workers} worker{'s' if workers > 1 else ''}: "
                  f"{seconds:7.1f} s  {rates[workers]:7.1f} runs/s  "
                  f"(CPU in chunks {info['cpu']:.1f} s; load average "
                  f"{os.getloadavg()[0]:.2f})")
        ratio = rates[2] / rates[1]
        print(f"  speed-up on 2 workers: {ratio:.2f}x (target >= 1.7x)")
        if not args.no_unstacked:
            seconds, _ = run_child(spec, folder / "unstacked", 1, "unstacked")
            print(f"  same sweep, 1 worker, one engine batch per parameter set: {seconds:7.1f} s"
                  f"  {n_runs / seconds:7.1f} runs/s; stacking gains "
                  f"{rates[1] * seconds / n_runs:.2f}x")
        import pyarrow.parquet as pq

        from sim.studies.sweeps.store import RUNS

        same = pq.read_table(folder / "speed-1" / RUNS).equals(
            pq.read_table(folder / "speed-2" / RUNS))
        print(f"  results identical on 1 and 2 workers: {same}")

        if args.no_memory:
            return 0
        spec = folder / "memory.toml"
        spec.write_text(lhs_spec_text(*memory), encoding="utf-8")
        n_runs = memory[0] * memory[1]
        seconds, peak = run_child(spec, folder / "memory", 2)
        bound = peak["self"] + 2 * peak["workers"]
        horizon = memory[2] or "2029-12"
        print(f"  memory sweep, {n_runs:,} runs to {horizon} on 2 workers: {seconds:.1f} s "
              f"({n_runs / seconds:.1f} runs/s)")
        print(f"  peak memory: driver {peak['self'] / GIB:.2f} GiB, largest worker "
              f"{peak['workers'] / GIB:.2f} GiB, total at most {bound / GIB:.2f} GiB "
              f"(target < 2 GiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
