"""Files replaced atomically (a reader sees the old file or the new one, never half of one),
temporary files a killed writer left, output folders locked against a second writer, and
names safe to use as a folder.

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

from filelock import FileLock, Timeout

from sim.errors import InputError


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


#: Temporary files :func:`atomic_path` creates: ``.<name>.<random>.tmp``.
TMP_GLOB = ".*.tmp"


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files a writer killed mid-write (``kill -9``, power loss) left in
    ``folder`` (never read as results); returns them. Call it holding the folder's lock."""
    removed = []
    if Path(folder).is_dir():
        for path in Path(folder).glob(TMP_GLOB):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


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


# --------------------------------------------------------------------------- folder locks

#: The lock file inside a locked output folder (kept between runs: deleting a lock file
#: while another process may be opening it would let two writers in).
LOCK_FILE = ".opengap.lock"


class FolderBusyError(InputError):
    """Another process is writing to the output folder (one line, exit status 2)."""


#: Folders this process holds: resolved path -> (lock, how many holders in this process).
_HELD: dict[Path, tuple[FileLock, int]] = {}


def lock_folder(folder: Path) -> None:
    """Take the exclusive lock on ``folder`` (which must exist), without waiting: if another
    process holds it, raise :class:`FolderBusyError`. Re-entrant within a process (the
    command line and the sweep store it calls both lock the same folder); every call needs
    an :func:`unlock_folder`. The lock is ``fcntl``'s (through filelock), so a process that
    dies, even by ``kill -9``, releases it."""
    key = Path(folder).resolve()
    held = _HELD.get(key)
    if held is not None:
        _HELD[key] = (held[0], held[1] + 1)
        return
    lock = FileLock(key / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderBusyError(f"{folder}: another opengap process is writing to this folder "
                              f"(it holds {LOCK_FILE}); wait for it to finish, or use another "
                              "--out folder") from None
    _HELD[key] = (lock, 1)


def unlock_folder(folder: Path) -> None:
    """Release one hold of :func:`lock_folder`; the lock itself goes with the last."""
    key = Path(folder).resolve()
    held = _HELD.get(key)
    if held is None:
        return
    if held[1] > 1:
        _HELD[key] = (held[0], held[1] - 1)
        return
    del _HELD[key]
    held[0].release()


def unlock_all_folders() -> None:
    """Release every folder lock this process holds (the end of a command)."""
    for key in list(_HELD):
        lock, _ = _HELD.pop(key)
        lock.release(force=True)


@contextmanager
def folder_locked(folder: Path) -> Iterator[None]:
    """``with folder_locked(out):`` holds :func:`lock_folder` for the block."""
    lock_folder(folder)
    try:
        yield
    finally:
        unlock_folder(folder)
