"""Where a one-process drain's time goes: ``python -m benchmarks.drain_split``.

A quick measurement, not a test. For raw ``uwsgi.spool``, spoolrt with results off and spoolrt
with results on, it pre-fills N tasks and drains them with one uWSGI spooler process, as the
drain figure of ``python -m benchmarks`` does, while ``benchmarks.split_timer`` times each call
of the spooler callable inside that process. A task's wall time (from the drain rate) is then
split into the time inside the callable (spoolrt's Python, or raw's one-line callable) and the
time outside it: uWSGI's C loop, which scans the directory, opens, locks, reads and unlinks each
file. The last columns say what a ratio target against raw leaves for the callable: at 0.5x raw
a task may take twice raw's wall time in all, of which the C loop takes its share first.
Repetitions are interleaved and medians printed; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import figures
from benchmarks.split_timer import ENV_SPLIT
from benchmarks.subject import Subject
from benchmarks.subjects import discover

SUBJECTS = ("uwsgi-raw", "spoolrt-uwsgi-noresults", "spoolrt-uwsgi")
#: The issue's ratio targets for a one-process drain (results off, results on), against raw.
TARGETS = {"spoolrt-uwsgi-noresults": 0.7, "spoolrt-uwsgi": 0.5}


def _inside_us(split_dir: Path) -> float:
    """Microseconds per call inside the callable of the process that ran the most calls."""
    best: dict[str, float] = {"calls": 0, "seconds": 0.0}
    for path in split_dir.glob("*.json"):
        data = json.loads(path.read_text())
        if data["calls"] > best["calls"]:
            best = data
    if not best["calls"]:
        raise RuntimeError(f"no spooler process wrote its timings to {split_dir}")
    return best["seconds"] / best["calls"] * 1e6


def one_drain(subject: Subject, load: figures.Load, split_dir: Path) -> tuple[float, float]:
    """(wall us/task, us/task inside the spooler callable) of one one-process drain."""
    shutil.rmtree(split_dir, ignore_errors=True)
    split_dir.mkdir()
    rate = figures.drain(subject, load, 1, record_enqueue=False)["drain_p1"]
    return 1e6 / rate, _inside_us(split_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="tasks per drain")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm"), help="where queues live")
    args = parser.parse_args(argv)
    available = {cls.name: cls for cls in discover()[0]}
    load = figures.Load(tasks=args.n)
    root = Path(tempfile.mkdtemp(prefix="spoolrt-split-", dir=args.dir))
    split_dir = root / "split"
    os.environ[ENV_SPLIT] = str(split_dir)  # inherited by every uWSGI instance started here
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in SUBJECTS}
    try:
        subjects = [available[name](root / name, load.mark_every) for name in SUBJECTS]
        for rep in range(1, args.reps + 1):
            for subject in subjects:
                wall, inside = one_drain(subject, load, split_dir)
                samples[subject.name].append((wall, inside))
                print(
                    f"rep {rep}: {subject.name}: {wall:.1f} us/task, {inside:.1f} inside",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(report(samples, args))
    return 0


def report(samples: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> str:
    med = {
        name: (statistics.median(w for w, _ in runs), statistics.median(i for _, i in runs))
        for name, runs in samples.items()
    }
    raw_wall = med["uwsgi-raw"][0]
    lines = [
        f"One-process drain of {args.n:,} tasks in {args.dir}, median of {args.reps}; µs per task.",
        "",
        "| subject | tasks/s | wall | inside the callable | outside (uWSGI's C loop) "
        "| ratio to raw | target | wall at the target | left for the callable at the target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SUBJECTS:
        wall, inside = med[name]
        outside = wall - inside
        target = TARGETS.get(name)
        cells = ["", "", ""]
        if target is not None:
            allowed = raw_wall / target
            cells = [f"{target}x", f"{allowed:.1f}", f"{allowed - outside:.1f}"]
        lines.append(
            f"| {name} | {1e6 / wall:,.0f} | {wall:.1f} | {inside:.1f} | {outside:.1f} "
            f"| {raw_wall / wall:.2f}x | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
