"""Smoke test: the engine benchmark runs end to end at tiny sizes (no timing assertions)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bench_engine.py"


def test_bench_engine_quick(capsys):
    spec = importlib.util.spec_from_file_location("bench_engine", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    assert module.main(["--quick", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "agent-steps/s" in out
    assert "reference" in out and "engine" in out
    assert "peak memory" in out
    assert "targets:" in out and "floor: the exact buyer choice" in out
    # The profile names every mechanism and the compiled buyer choice.
    profile = out.split("where the time goes")[1]
    for part in ("policy", "funding", "research", "market", "buyer choice (compiled)",
                 "record outputs", "random draws"):
        assert part in profile


def test_bench_app_quick(capsys):
    script = SCRIPT.parent / "bench_app.py"
    spec = importlib.util.spec_from_file_location("bench_app", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert module.main(["--quick", "--runs", "4"]) == 0
    finally:
        sys.modules.pop(spec.name, None)
    out = capsys.readouterr().out
    assert "recompute, 1 run (reference)" in out and "recompute, 4 runs" in out
    assert "redraw of the 4 panels" in out and "target:" in out
