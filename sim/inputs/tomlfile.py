"""Reading the project's TOML input files (scenarios, bets, sweep and calibration specs) with
the one-line errors every command reports: ``file: what is wrong``.

A document nested deeper than :data:`MAX_NESTING` tables or arrays is refused in one line (a
scenario is three levels deep; the parser itself would end in ``RecursionError`` for some
tens of thousands of levels).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

#: Deepest nesting of tables and arrays accepted in an input file.
MAX_NESTING = 32


def nesting_error(data: Any, limit: int = MAX_NESTING) -> str | None:
    """The dotted key of the first value nested deeper than ``limit`` levels, or None
    (iterative: no recursion, whatever the depth)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict):
            items = [(f"{where}.{k}" if where else str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            items = [(f"{where}[{i}]", v) for i, v in enumerate(node)]
        else:
            continue
        if depth >= limit:
            return (where if len(where) <= 60 else where[:57] + "...") or "<root>"
        stack.extend((v, w, depth + 1) for w, v in items)
    return None


def read_toml(path: str | Path, error: type[Exception], what: str) -> dict[str, Any]:
    """Parse ``path``; a missing file, bad TOML, non-UTF-8 text or nesting deeper than
    :data:`MAX_NESTING` raises ``error`` with one line naming the file (``what`` says which
    kind of file was expected, e.g. "bets file")."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not valid TOML: file is not UTF-8 text") from None
    except RecursionError:
        raise error(f"{path}: tables or arrays nested too deeply (at most {MAX_NESTING} "
                    "levels)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    deep = nesting_error(data)
    if deep is not None:
        raise error(f"{path}: {deep}: tables or arrays nested too deeply (at most "
                    f"{MAX_NESTING} levels)")
    return data
