"""A small tmpfs for tests that need a real full (or read-only) filesystem.

Mounting needs root (or CAP_SYS_ADMIN); without it the test is skipped, except in CI, where a
missing capability must not hide a regression.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.machine import unavailable


@contextmanager
def mounted_tmpfs(where: Path, size: str = "256k", *, read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``where`` for the block, then unmount it."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"a tmpfs cannot be mounted here (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30, check=False)


def fill(directory: Path) -> Path:
    """Write one file into ``directory`` until its filesystem has no byte left; returns it."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    return filler


def regular_files(root: Path, *, besides: tuple[Path, ...] = ()) -> list[Path]:
    """Every regular file under ``root`` (temp files included), except ``besides``."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p not in besides]
