"""A spool directory with odd files in every state area, for issue 18 point 8.

In the spool directory itself, ``failed/``, ``quarantine/`` and a parked bucket: a FIFO, a
directory and an unreadable regular file, each under a spool-file name; plus a FIFO where a kept
file's ``.json`` record belongs, and a FIFO whose name holds a newline (log injection).

"Unreadable" as root: root reads a mode-000 file through CAP_DAC_OVERRIDE, so ``as_unprivileged``
runs a command as root *without* CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (``setpriv``): to it
the file is as unreadable as to any other user, while the root-owned directories stay usable.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from spoolrt.core.codec.packet import FILE_PREFIX
from spoolrt.spooldir.layout import FAILED, QUARANTINE, RECORD_SUFFIX, area_dir, keep_aside
from spoolrt.spooldir.parking import parked_dir

_DROP = "-dac_override,-dac_read_search"


def as_unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run so that a mode-000 file cannot be read (see the module docstring)."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise AssertionError("setpriv (util-linux) is needed to drop root's file capabilities")
    return [setpriv, f"--bounding-set={_DROP}", f"--inh-caps={_DROP}", *cmd]


@dataclass
class OddFiles:
    fifos: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return [*self.fifos, *self.dirs, *self.unreadable]


def plant_odd_files(
    spool: Path, *, good_spool_file: bytes, kept_with_fifo_record: bool
) -> OddFiles:
    """Put the odd files into ``spool``'s areas; ``good_spool_file`` is the content of the
    unreadable ones (so only the permission stands in the way)."""
    odd = OddFiles()
    bucket = Path(parked_dir(str(spool))) / "99999999" / "n"
    areas = {
        "top": spool,
        "failed": area_dir(spool, FAILED),
        "quarantine": area_dir(spool, QUARANTINE),
        "parked": bucket,
    }
    for label, folder in areas.items():
        folder.mkdir(parents=True, exist_ok=True)
        fifo = folder / f"{FILE_PREFIX}fifo_{label}"
        os.mkfifo(fifo, 0o600)
        odd.fifos.append(str(fifo))
        directory = folder / f"{FILE_PREFIX}dir_{label}"
        directory.mkdir()
        odd.dirs.append(str(directory))
        locked = folder / f"{FILE_PREFIX}unreadable_{label}"
        locked.write_bytes(good_spool_file)
        os.chmod(locked, 0)
        odd.unreadable.append(str(locked))
    newline = spool / f"{FILE_PREFIX}nl\nspoolrt: FAKE LINE"
    os.mkfifo(newline, 0o600)
    odd.fifos.append(str(newline))
    if kept_with_fifo_record:
        kept = keep_aside(str(spool), FAILED, "kept_fifo_record", good_spool_file, {"r": 1})
        record = str(kept) + RECORD_SUFFIX
        os.unlink(record)
        os.mkfifo(record, 0o600)
        odd.fifos.append(record)
    return odd


def is_fifo(path: str) -> bool:
    return stat.S_ISFIFO(os.lstat(path).st_mode)
