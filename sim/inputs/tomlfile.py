"""Reading the project's TOML input files (scenarios, bets, sweep and calibration specs) with
the one-line errors every command reports: ``file: what is wrong``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: str | Path, error: type[Exception], what: str) -> dict[str, Any]:
    """Parse ``path``; a missing file, bad TOML or non-UTF-8 text raises ``error`` with one
    line naming the file (``what`` says which kind of file was expected, e.g. "bets file")."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not valid TOML: file is not UTF-8 text") from None
