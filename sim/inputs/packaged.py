"""Where the data an installed opengap needs lives: seed tables, shipped scenarios, bets.

In a source checkout these are the repository's ``seeds/``, ``scenarios/`` and
``experiments/bets.toml``; a wheel carries copies inside the package (``sim/_seeds``,
``sim/_scenarios``, ``sim/_bets.toml``, see ``pyproject.toml``), so every command works from
any folder after ``pip install .``.
"""

from __future__ import annotations

from pathlib import Path

#: The package folder (``sim/``) and, in a source checkout, the repository above it.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = PACKAGE_DIR.parent


def _packaged_or_repo(packaged: str, repo: str) -> Path:
    inside = PACKAGE_DIR / packaged
    return inside if inside.exists() else REPO_DIR / repo


def seeds_dir() -> Path:
    """The seeds folder: the wheel's packaged copy, else the repository's ``seeds/``."""
    return _packaged_or_repo("_seeds", "seeds")


def scenarios_dir() -> Path:
    """The folder of shipped scenarios (the wheel's copy, else the repository's)."""
    return _packaged_or_repo("_scenarios", "scenarios")


def bets_file() -> Path:
    """The bets the scorecard scores by default (the wheel's copy, else
    ``experiments/bets.toml``)."""
    return _packaged_or_repo("_bets.toml", "experiments/bets.toml")
