"""Scratch directories a run owns for as long as it lives, and sweeps after the runs that died.

A run killed with ``kill -9`` (or by the OOM killer) never reaches its ``finally``: its staging
directory, gigabytes for a large day, would stay in the temporary directory for good. Each
directory holds a lock file locked for its owner's lifetime; the kernel drops the lock when the
process dies, however it dies, so the next run of the same kind removes every directory whose
lock it can take, and never one a live run (of any partition, in any process) is still using.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK = ".owner.lock"


def sweep_abandoned(prefix: str, root: str | None = None) -> list[Path]:
    """Remove the ``prefix*`` directories under ``root`` (the temporary directory) whose owner
    is gone; the ones removed, in name order."""
    removed = []
    for path in sorted(Path(root or tempfile.gettempdir()).glob(f"{prefix}*")):
        if not path.is_dir() or not (path / LOCK).exists():
            continue  # not ours, or not yet locked by its (live) creator
        try:
            fd = os.open(path / LOCK, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live run holds it
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
        removed.append(path)
    return removed


@contextlib.contextmanager
def scratch_directory(prefix: str, root: str | None = None) -> Iterator[str]:
    """A fresh directory ``prefix*`` locked by this process until the block ends (then removed),
    after sweeping the ones abandoned by dead runs."""
    sweep_abandoned(prefix, root)
    path = tempfile.mkdtemp(prefix=prefix, dir=root)
    # Locked before it bears its name: a sweeper never sees an unlocked lock of a live run.
    fd = os.open(os.path.join(path, LOCK + ".new"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(os.path.join(path, LOCK + ".new"), os.path.join(path, LOCK))
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
