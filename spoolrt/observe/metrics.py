"""Prometheus metrics of spool directories, computed at scrape time from the files and the store.

Nothing is counted in memory between scrapes (a restart loses nothing, several web workers
answer alike): every scrape reads the spool directories and the result store as they are. The
families, all in seconds where there is a unit:

=================================================== ===========================================
``spoolrt_spool_files{spooler,state}``              task files by state: pending (due), scheduled
                                                    (``at`` in the future), parked (far future),
                                                    running (locked), failed, quarantined
``spoolrt_spool_oldest_pending_age_seconds``        how long the oldest due, not running file has
``{spooler}``                                       been due (0 when none): the spooler's backlog
``spoolrt_tasks_running{spooler}``                  files a process holds the lock of right now
``spoolrt_spooler_processes{spooler,state}``        announced live spoolers: idle, busy, or other
                                                    host (``remote``: cannot be checked from here)
``spoolrt_tasks_finished_total{task,outcome}``      final records in the store by task and outcome
``spoolrt_tasks_quarantined_total{reason}``         files in the quarantine areas by reason
``spoolrt_task_run_seconds{task}``                  histogram: started -> finished, last attempt
``spoolrt_task_wait_seconds{task}``                 histogram: due -> started
``spoolrt_schedule_last_success_timestamp_seconds`` when a slot of the schedule last finished done
``{schedule}``                                      (0: never, within the store's TTL)
=================================================== ===========================================

Labels never carry a task id, an argument or an error text: ``task`` is the task's name, a
``reason`` is a short code (anything else is counted as ``other``). The store keeps records for
their TTL (7 days by default), so ``spoolrt_tasks_finished_total`` and the histograms cover
that window and go *down* as records expire; Prometheus reads a drop as a counter reset, so
compare them over windows with ``delta()`` on a recording rule, or alert on the gauges.
Schedules are those registered in this process (import the app: ``--app`` or the dashboard
mounted in it).

``prometheus_client`` (``pip install 'spoolrt[metrics]'``) writes the text format; the numbers
themselves (``snapshot``) need nothing outside the standard library.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from spoolrt.api.schedules import registry as schedule_registry
from spoolrt.core.errors import ConfigurationError, ResultStoreError
from spoolrt.observe.history import (
    StoreOpener,
    finished,
    last_success,
    open_existing_store,
    run_seconds,
    store_of,
    wait_seconds,
)
from spoolrt.observe.scan import locked_by
from spoolrt.spooldir.layout import FAILED, QUARANTINE, read_record
from spoolrt.spooldir.listing import iter_area, pending_files
from spoolrt.spooldir.parking import iter_parked
from spoolrt.spooldir.presence import HOST, list_announcements

FILE_STATES = ("pending", "scheduled", "parked", "running", "failed", "quarantined")
PROCESS_STATES = ("idle", "busy", "remote")
OUTCOMES = ("done", "skipped", "failed", "quarantined", "cancelled")
#: Upper bounds of the duration histograms, in seconds (a task runs milliseconds to hours).
BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, math.inf)

_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
INSTALL_HINT = (
    "metrics need the prometheus_client package: pip install 'spoolrt[metrics]' (quoted: zsh "
    "globs the brackets)"
)


def label_code(value: object, fallback: str) -> str:
    """``value`` when it is a short code or name, else ``fallback``: no free text in labels."""
    text = "" if value is None else str(value)
    return text if _CODE.fullmatch(text) else fallback


@dataclass
class SpoolerSnapshot:
    """What the files of one spool directory say, at one moment."""

    spooler: str
    files: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILE_STATES, 0))
    oldest_pending_age: float = 0.0
    processes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROCESS_STATES, 0))


@dataclass
class Snapshot:
    """Every number the metric families are made of (pure data: tests and the dashboard use it
    without prometheus_client)."""

    spoolers: list[SpoolerSnapshot] = field(default_factory=list)
    finished: Counter[tuple[str, str]] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    run_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wait_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    schedules: dict[str, float] = field(default_factory=dict)


def snapshot(
    spool_dirs: Sequence[str],
    *,
    now: float | None = None,
    opener: StoreOpener = open_existing_store,
    schedules: Iterable[str] | None = None,
) -> Snapshot:
    """Read ``spool_dirs`` and their stores now. ``schedules`` defaults to the registered ones."""
    moment = time.time() if now is None else now
    names = [e.name for e in schedule_registry] if schedules is None else list(schedules)
    result = Snapshot()
    for spool_dir in spool_dirs:
        result.spoolers.append(_files_of(spool_dir, moment, result.quarantined))
        with store_of(spool_dir, opener) as store:
            if store is not None:
                try:
                    _history_of(store, result, names)
                except ResultStoreError:  # the files stay the truth; the store only adds
                    pass
    return result


def _files_of(spool_dir: str, now: float, quarantined: Counter[str]) -> SpoolerSnapshot:
    spooler = SpoolerSnapshot(spool_dir)
    files = spooler.files
    oldest: float | None = None
    for path, mtime in pending_files(spool_dir):
        if int(mtime) > int(now):  # uWSGI compares whole seconds: st_mtime > now
            files["scheduled"] += 1
        elif locked_by(path) is not None:  # only a due file can be running: one syscall each
            files["running"] += 1
        else:
            files["pending"] += 1
            oldest = mtime if oldest is None else min(oldest, mtime)
    spooler.oldest_pending_age = max(0.0, now - oldest) if oldest is not None else 0.0
    files["parked"] = sum(1 for _ in iter_parked(spool_dir))
    files["failed"] = sum(1 for _ in iter_area(spool_dir, FAILED))
    for path in iter_area(spool_dir, QUARANTINE):
        files["quarantined"] += 1
        quarantined[label_code(read_record(path).get("reason"), "other")] += 1
    for announcement in list_announcements(spool_dir):
        if announcement.host != HOST:
            spooler.processes["remote"] += 1
        elif announcement.is_alive():
            busy = locked_by(announcement.path) is not None  # byte 0: held while a task runs
            spooler.processes["busy" if busy else "idle"] += 1
    return spooler


def _history_of(store: Any, into: Snapshot, schedules: Sequence[str]) -> None:
    for record in finished(store):
        task = label_code(record.name, "unknown")
        into.finished[(task, record.status.value)] += 1
        ran = run_seconds(record)
        if ran is not None:
            into.run_seconds[task].append(ran)
        waited = wait_seconds(record)
        if waited is not None:
            into.wait_seconds[task].append(waited)
    for name in schedules:
        when = last_success(store, name)
        if when is not None:
            into.schedules[name] = max(when, into.schedules.get(name, 0.0))


# --- exposition -------------------------------------------------------------------------------


def _prometheus() -> Any:
    """The prometheus_client package, imported only when metrics are exposed (optional extra)."""
    try:
        import prometheus_client
        import prometheus_client.core
    except ImportError as exc:
        raise ConfigurationError(INSTALL_HINT) from exc
    return prometheus_client


def families(data: Snapshot) -> Iterator[Any]:
    """The prometheus_client metric families of ``data``."""
    core = _prometheus().core
    files = core.GaugeMetricFamily(
        "spoolrt_spool_files",
        "Task files in the spool directory by state.",
        labels=["spooler", "state"],
    )
    oldest = core.GaugeMetricFamily(
        "spoolrt_spool_oldest_pending_age_seconds",
        "How long the oldest due task not yet running has been due.",
        labels=["spooler"],
    )
    running = core.GaugeMetricFamily(
        "spoolrt_tasks_running", "Task files locked by a running spooler.", labels=["spooler"]
    )
    processes = core.GaugeMetricFamily(
        "spoolrt_spooler_processes",
        "Live spooler processes announced for the directory, by state.",
        labels=["spooler", "state"],
    )
    for spooler in data.spoolers:
        for state in FILE_STATES:
            files.add_metric([spooler.spooler, state], spooler.files[state])
        oldest.add_metric([spooler.spooler], spooler.oldest_pending_age)
        running.add_metric([spooler.spooler], spooler.files["running"])
        for state in PROCESS_STATES:
            processes.add_metric([spooler.spooler, state], spooler.processes[state])
    yield from (files, oldest, running, processes)

    done = core.CounterMetricFamily(
        "spoolrt_tasks_finished",
        "Finished tasks kept in the result store, by task and outcome.",
        labels=["task", "outcome"],
    )
    for (task, outcome), count in sorted(data.finished.items()):
        done.add_metric([task, outcome], count)
    yield done
    quarantined = core.CounterMetricFamily(
        "spoolrt_tasks_quarantined", "Files in the quarantine areas, by reason.", labels=["reason"]
    )
    for reason, count in sorted(data.quarantined.items()):
        quarantined.add_metric([reason], count)
    yield quarantined
    yield _histogram(
        core, "spoolrt_task_run_seconds", "Run time of finished tasks.", data.run_seconds
    )
    yield _histogram(
        core, "spoolrt_task_wait_seconds", "Time finished tasks waited once due.", data.wait_seconds
    )
    schedules = core.GaugeMetricFamily(
        "spoolrt_schedule_last_success_timestamp_seconds",
        "When a slot of the schedule last finished done (0: never within the store's TTL).",
        labels=["schedule"],
    )
    for name in sorted({*data.schedules, *(e.name for e in schedule_registry)}):
        schedules.add_metric([name], data.schedules.get(name, 0.0))
    yield schedules


def _histogram(core: Any, name: str, doc: str, values: dict[str, list[float]]) -> Any:
    family = core.HistogramMetricFamily(name, doc, labels=["task"])
    for task, seen in sorted(values.items()):
        buckets = [(_bound(b), sum(1 for v in seen if v <= b)) for b in BUCKETS]
        family.add_metric([task], buckets, sum_value=sum(seen))
    return family


def _bound(bucket: float) -> str:
    return "+Inf" if bucket == math.inf else repr(bucket)


class SpoolrtCollector:
    """A prometheus_client collector of ``spool_dirs``: register it in *your* registry to add
    spoolrt's families to an app's own ``/metrics``. Each ``collect`` reads everything afresh."""

    def __init__(
        self, spool_dirs: Sequence[str], *, opener: StoreOpener = open_existing_store
    ) -> None:
        self.spool_dirs = list(spool_dirs)
        self.opener = opener

    def collect(self) -> Iterator[Any]:
        yield from families(snapshot(self.spool_dirs, opener=self.opener))


def _registry(spool_dirs: Sequence[str], opener: StoreOpener) -> Any:
    client = _prometheus()
    registry = client.CollectorRegistry(auto_describe=False)  # one per call: no global state
    registry.register(SpoolrtCollector(spool_dirs, opener=opener))
    return registry


#: The Content-Type of the text format, for ``/metrics`` answers.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(spool_dirs: Sequence[str], *, opener: StoreOpener = open_existing_store) -> bytes:
    """The Prometheus text format of ``spool_dirs``, computed now."""
    return bytes(_prometheus().generate_latest(_registry(spool_dirs, opener)))


def write_textfile(
    path: str, spool_dirs: Sequence[str], *, opener: StoreOpener = open_existing_store
) -> None:
    """Write the metrics to ``path`` for node_exporter's textfile collector, atomically (a
    temporary file beside it, then a rename), so a scrape never reads half a file."""
    _prometheus().write_to_textfile(path, _registry(spool_dirs, opener))
