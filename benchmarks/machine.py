"""What the numbers were measured on: printed with every table, stored in every JSON record."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.uwsgi_host import uwsgi_binary


def filesystem_type(path: Path) -> str:
    """Type of the filesystem holding ``path`` (longest matching mount point in /proc/mounts)."""
    target = str(path.resolve())
    best, best_type = "", "unknown"
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best_type
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def describe(filesystems: dict[str, Path]) -> dict[str, Any]:
    binary = uwsgi_binary()
    uwsgi_version = None
    if binary:
        uwsgi_version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "uwsgi": uwsgi_version,
        "huey": _version("huey"),
        "uwsgiconf": _version("uwsgiconf"),
        "filesystems": {
            name: {"path": str(path), "type": filesystem_type(path)}
            for name, path in filesystems.items()
        },
    }


def summary_line(info: dict[str, Any]) -> str:
    fs = ", ".join(
        f"{name} = {entry['type']} ({entry['path']})" for name, entry in info["filesystems"].items()
    )
    load = " ".join(f"{x:.2f}" for x in info["loadavg"])
    return (
        f"{info['nproc']} CPUs, Linux {info['kernel']}, Python {info['python']}, "
        f"uWSGI {info['uwsgi']}, huey {info['huey']}, uwsgiconf {info['uwsgiconf']}; "
        f"{fs}; load average at start {load}"
    )
