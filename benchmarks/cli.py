"""``python -m benchmarks``: run the chosen subjects side by side and print the tables.

Repetitions are interleaved (rep 1 of every subject, then rep 2, ...) so that a change in the
load of the shared machine hits every subject alike. Exit status: 0 when every measurement was
taken, 1 when some failed (the table says FAILED there), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import figures, machine, report
from benchmarks.figures import Load
from benchmarks.subject import ALL_FIGURES, DRAIN, ENQUEUE, LATENCY, PICKUP, POSTPONED, Subject
from benchmarks.subjects import discover

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
FULL_POSTPONED = (0, 10_000, 100_000)
QUICK_POSTPONED = (0, 100)
#: Spooler (consumer) process counts of the drain figure: the scaling curve.
DRAIN_PROCESSES = (1, 2, 4)

METHOD_NOTES = [
    "enqueue: N calls in one loop, inside one uWSGI request (nothing consuming, "
    "`--spooler-external`) or one Python process (huey); one sample per drain pre-fill.",
    "drain: N tasks pre-filled, then the consumer starts; rate from the first task to the last "
    "progress mark (tasks mark every 100 runs per process).",
    "idle enqueue→start: one consumer process, idle, probes 20 ms apart; t0 is taken before the "
    "enqueue call, so the figure includes the enqueue cost.",
    "pickup under load: a probe is enqueued 10 ms into a 50 ms task that occupies the only "
    "consumer; figure = probe start minus the end of the busy task (0 means no extra wait).",
    "postponed: K tasks due in one day wait in the same queue (huey: filed into its schedule "
    "by a consumer first); N ready tasks pre-filled and drained by one process, then idle "
    "probes (a quarter as many as above).",
    "uWSGI: `--spooler-frequency 1 --spooler-quiet --disable-logging`, 1 worker; huey: "
    "`huey_consumer -k process -n -q -d 0.001 -m 0.001 -b 1.0` (constant 1 ms poll).",
]


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser(subject_names: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Spooler/task-queue benchmarks, each figure as a ratio to raw uwsgi.spool.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 200 tasks, 1 repetition, tmpfs only, postponed 0/100",
    )
    parser.add_argument(
        "--only",
        type=_csv,
        metavar="NAMES",
        help=f"comma-separated subjects (the baseline always runs): {', '.join(subject_names)}",
    )
    parser.add_argument("--fs", type=_csv, metavar="LIST", help="tmpfs,disk (default both)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; quick 1)")
    parser.add_argument("--n", type=int, help="tasks per enqueue/drain (default 20000)")
    parser.add_argument("--latency-n", type=int, help="idle latency probes (default 200)")
    parser.add_argument("--pickup-n", type=int, help="pickup probes per repetition (default 10)")
    parser.add_argument(
        "--postponed",
        type=_csv,
        metavar="COUNTS",
        help="postponed task counts, ascending (default 0,10000,100000); 'none' skips",
    )
    parser.add_argument(
        "--figures",
        type=_csv,
        metavar="LIST",
        help=f"figures to measure (default all): {', '.join(sorted(ALL_FIGURES))}",
    )
    parser.add_argument("--tmpfs-dir", type=Path, default=Path("/dev/shm"))
    parser.add_argument("--disk-dir", type=Path, default=REPO_ROOT / ".state" / "bench")
    parser.add_argument("--results-dir", type=Path, default=PACKAGE_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="keep work directories (debugging)")
    parser.add_argument("--list", action="store_true", help="list subjects and exit")
    return parser


@dataclass
class Plan:
    subjects: list[type[Subject]]
    filesystems: dict[str, Path]
    reps: int
    load: Load
    postponed_counts: list[int]
    figures: frozenset[str]
    quick: bool
    results_dir: Path
    keep: bool


def make_plan(args: argparse.Namespace, available: list[type[Subject]]) -> Plan:
    by_name = {cls.name: cls for cls in available}
    chosen = list(available)
    if args.only:
        unknown = [name for name in args.only if name not in by_name]
        if unknown:
            raise ValueError(f"unknown subject(s): {', '.join(unknown)}")
        chosen = [cls for cls in available if cls.is_baseline or cls.name in args.only]
    fs_names = args.fs or (["tmpfs"] if args.quick else ["tmpfs", "disk"])
    roots = {"tmpfs": args.tmpfs_dir, "disk": args.disk_dir}
    if any(name not in roots for name in fs_names):
        raise ValueError(f"--fs takes tmpfs and/or disk, not {fs_names}")
    load = Load.quick() if args.quick else Load()
    load = Load(
        tasks=args.n or load.tasks,
        latency_probes=args.latency_n or load.latency_probes,
        latency_gap_s=load.latency_gap_s,
        pickup_probes=args.pickup_n or load.pickup_probes,
        busy_s=load.busy_s,
        busy_offset_s=load.busy_offset_s,
    )
    if args.postponed is None:
        counts = list(QUICK_POSTPONED if args.quick else FULL_POSTPONED)
    elif args.postponed == ["none"]:
        counts = []
    else:
        counts = [int(x) for x in args.postponed]
        if counts != sorted(set(counts)):
            raise ValueError("--postponed counts must be distinct and ascending")
    selected = frozenset(args.figures) if args.figures else ALL_FIGURES
    if not selected <= ALL_FIGURES:
        raise ValueError(f"unknown figure(s): {', '.join(sorted(selected - ALL_FIGURES))}")
    reps = args.reps or (1 if args.quick else 3)
    if reps < 1 or load.tasks < 1:
        raise ValueError("--reps and --n must be at least 1")
    return Plan(
        subjects=chosen,
        filesystems={name: roots[name] for name in fs_names},
        reps=reps,
        load=load,
        postponed_counts=counts,
        figures=selected,
        quick=args.quick,
        results_dir=args.results_dir,
        keep=args.keep,
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Runner:
    plan: Plan
    samples: report.Samples = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def measure(
        self, fs: str, subject: Subject, what: str, step: Callable[[], dict[str, float]]
    ) -> bool:
        """Run one step and keep its values; a failure is recorded, reported, and survived."""
        started = time.monotonic()
        try:
            values = step()
        except Exception as exc:
            self.errors.append(f"{fs} {subject.name} {what}: {exc}")
            log(f"[{fs}] {subject.name} {what}: FAILED {exc}\n{traceback.format_exc()}")
            return False
        store = self.samples.setdefault(fs, {}).setdefault(subject.name, {})
        for key, value in values.items():
            store.setdefault(key, []).append(value)
        shown = ", ".join(f"{key}={value:,.2f}" for key, value in values.items())
        log(f"[{fs}] {subject.name} {what}: {shown} ({time.monotonic() - started:.1f}s)")
        return True

    def wants(self, subject: Subject, figure: str) -> bool:
        return figure in self.plan.figures and figure in subject.figures

    def repetition(self, fs: str, subject: Subject, tag: str) -> None:
        """One repetition of every figure except ``postponed`` for one subject."""
        load = self.plan.load
        enqueue = self.wants(subject, ENQUEUE)
        if self.wants(subject, DRAIN):
            for processes in DRAIN_PROCESSES:
                step = partial(figures.drain, subject, load, processes, record_enqueue=enqueue)
                self.measure(fs, subject, f"{tag} drain p{processes}", step)
        capped = figures.drain_size(subject, load) < load.tasks
        if enqueue and (capped or not self.wants(subject, DRAIN)):
            step = partial(figures.enqueue_only, subject, load)
            self.measure(fs, subject, f"{tag} enqueue", step)
        if self.wants(subject, LATENCY):
            step = partial(figures.idle_latency, subject, load)
            self.measure(fs, subject, f"{tag} latency", step)
        if self.wants(subject, PICKUP):
            self.measure(fs, subject, f"{tag} pickup", partial(figures.pickup, subject, load))

    def run_filesystem(self, fs: str, base: Path) -> None:
        plan, load = self.plan, self.plan.load
        root = base / f"spoolrt-bench-{os.getpid()}-{fs}"
        try:
            main = [cls(root / cls.name / "main", load.mark_every) for cls in plan.subjects]
            for rep in range(1, plan.reps + 1):
                for subject in main:
                    self.repetition(fs, subject, f"rep {rep}/{plan.reps}")
            # Postponed tasks stay in their own queues and are topped up as the count grows.
            waiting_room = [
                cls(root / cls.name / "postponed", load.mark_every)
                for cls in plan.subjects
                if POSTPONED in plan.figures and POSTPONED in cls.figures
            ]
            for waiting in plan.postponed_counts:
                for rep in range(1, plan.reps + 1):
                    for subject in list(waiting_room):
                        step = partial(figures.postponed, subject, load, waiting)
                        tag = f"postponed {waiting:,} rep {rep}/{plan.reps}"
                        if not self.measure(fs, subject, tag, step):
                            # Its queue now holds an unknown mix: later counts would mislead.
                            log(f"[{fs}] {subject.name}: no further postponed runs")
                            waiting_room.remove(subject)
        finally:
            if not plan.keep:
                shutil.rmtree(root, ignore_errors=True)


def _document(
    plan: Plan, runner: Runner, info: dict[str, Any], argv: Sequence[str], took: float
) -> str:
    rows = [m for m in report.metrics(plan.postponed_counts) if m.figure in plan.figures]
    columns = [
        report.Column(cls.name, cls.title, cls.is_baseline, cls.figures & plan.figures)
        for cls in plan.subjects
    ]
    summaries = report.summarize(runner.samples)
    end_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"# spoolrt benchmarks, {info['date']}",
        "",
        f"`python -m benchmarks {' '.join(argv)}`, {took / 60:.1f} min. "
        f"N = {plan.load.tasks:,} tasks, {plan.reps} repetition(s). Each cell: **median** "
        "(min-max over repetitions) and the ratio to the uWSGI raw baseline of this run. "
        "↓ lower is better, ↑ higher is better.",
        "",
        f"Machine: {machine.summary_line(info)}, at the end {end_load}. "
        "The machine was shared with other work while this ran.",
    ]
    for fs in plan.filesystems:
        kind = info["filesystems"][fs]["type"]
        lines += ["", f"## {fs} ({kind}, {info['filesystems'][fs]['path']})", ""]
        lines.append(report.table(summaries.get(fs, {}), columns, rows, plan.postponed_counts))
    lines += ["", "Notes:"]
    lines += [f"- {cls.title}: {cls.note}" for cls in plan.subjects if cls.note]
    lines += [f"- {note}" for note in METHOD_NOTES]
    if runner.errors:
        lines += ["", "Failed measurements:"] + [f"- {error}" for error in runner.errors]
    return "\n".join(lines) + "\n"


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so every `with` block stops its processes.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    classes, broken = discover()
    parser = build_parser([cls.name for cls in classes])
    args = parser.parse_args(argv)
    for module_name, error in broken.items():
        log(f"skipping subjects in benchmarks/subjects/{module_name}.py: {error}")
    if args.list:
        for cls in classes:
            why = cls.missing()
            print(f"{cls.name:24} {cls.title} [{f'unavailable: {why}' if why else 'ok'}]")
        return 0
    available = []
    for cls in classes:
        why = cls.missing()
        if why:
            log(f"skipping {cls.name}: {why}")
        else:
            available.append(cls)
    if not any(cls.is_baseline for cls in available):
        log("the raw uWSGI baseline cannot run here; nothing to compare against")
        return 2
    try:
        plan = make_plan(args, available)
    except ValueError as exc:
        parser.error(str(exc))
    for path in plan.filesystems.values():
        path.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    info = machine.describe(plan.filesystems)
    info["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runner = Runner(plan)
    started = time.monotonic()
    try:
        for fs, base in plan.filesystems.items():
            runner.run_filesystem(fs, base)
    finally:
        signal.signal(signal.SIGTERM, previous)
    took = time.monotonic() - started
    document = _document(plan, runner, info, argv, took)
    print(document)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path = plan.results_dir / f"{stamp}{'-quick' if plan.quick else ''}.json"
    record = {
        "machine": info,
        "argv": argv,
        "seconds": took,
        "load": asdict(plan.load),
        "reps": plan.reps,
        "subjects": [cls.name for cls in plan.subjects],
        "errors": runner.errors,
    }
    report.write_json(json_path, record, runner.samples)
    if not plan.quick:
        (plan.results_dir / "latest.md").write_text(document)
    log(f"results: {json_path}")
    return 1 if runner.errors else 0
