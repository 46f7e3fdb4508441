"""Files replaced atomically: a reader sees the old file or the new one, never half of one.

A base utility rather than part of :mod:`sim.report`: the sweep store (a study) writes its
chunk files with it too, and studies sit below reports.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import: ``os.umask`` can only be read by setting it, which is not thread-safe.
_UMASK = _current_umask()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``
    (``os.replace``), on failure delete it and leave ``path`` untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; use the usual file mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


#: A name that becomes a folder (``results/<name>``): letters, digits, ``.``, ``_``, ``-`` and
#: inner spaces, starting with a letter or digit, at most 100 characters. No ``/``, no ``..``
#: component, never an absolute path.
SLUG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._ -]{0,98}[A-Za-z0-9._-])?$")
SLUG_RULE = ("a name of letters, digits, '.', '_', '-' or inner spaces, starting with a letter "
             "or digit (no '/', at most 100 characters)")


def is_slug(name: object) -> bool:
    """True if ``name`` can be joined to a folder as one safe path component (see
    :data:`SLUG_RE`)."""
    return isinstance(name, str) and SLUG_RE.match(name) is not None
