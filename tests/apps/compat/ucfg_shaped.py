"""Task definitions in the shape of uwsgiconf 2.4's own test module
(tests/runtime/test_runtime_spooler.py: its imports, a prioritised and postponed task on the
default spooler, tasks on a spooler found by basename that succeed, fail and skip) and the
example of its ``Spooler`` docstring. The compatibility test rewrites only the import line."""

from datetime import timedelta

from recorder import record
from uwsgiconf.runtime.spooler import (
    ResultProcessed,
    ResultRescheduled,
    ResultSkipped,
    Spooler,
    SpoolerFunctionCallTask,
    SpoolerTask,
    TaskResult,
    TypeTaskResult,
    spooler_task_types,
)

assert spooler_task_types

# The docstring's example.
my_spooler = Spooler.get_by_basename("myspooler")


@my_spooler.task(postpone=timedelta(seconds=1))
def run_me(a, b="c"):
    record("run_me", a=a, b=b)


# The test module's tasks.
spooler2 = Spooler.get_by_basename("spooler2")


@Spooler.task(priority=3, postpone=timedelta(seconds=2))
def spooler1_func(arg1, arg2=10):
    record("spooler1_func", total=arg1 + arg2)
    return arg1 + arg2


@spooler2.task()
def spooler2_func():
    record("spooler2_func")
    return "done"


@spooler2.task()
def spooler2_func_fail():
    record("spooler2_func_fail")
    raise Exception("damn")


@spooler2.task()
def spooler2_func_skip():
    record("spooler2_func_skip")
    return None


class Report(SpoolerTask):
    type_id = "report"

    def process(self) -> TypeTaskResult:
        record("report", kind=self.payload["kind"], message=self.message)
        if self.payload["kind"] == "again":
            return self.mark_rescheduled()
        result = ResultProcessed(self.payload["kind"])
        assert isinstance(result, TaskResult)
        return result


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def trigger():
    paths = [
        run_me("some", b="other"),
        spooler1_func(100, 20),
        spooler2_func(),
        spooler2_func_fail(),
        spooler2_func_skip(),
        Spooler.send_message_raw(**Report.build_message(None, None, None, {"kind": "ok"})),
        Spooler.send_message_raw(**Report.build_message(None, None, None, {"kind": "again"})),
    ]
    found = Spooler.read_task_file(paths[1])
    return {
        "paths": paths,
        "spoolers": [str(s) for s in Spooler.get_spoolers()],
        "pids": Spooler.get_pids(),
        "codes": [c.code_uwsgi for c in (ResultProcessed, ResultSkipped, ResultRescheduled)],
        "fcall": SpoolerFunctionCallTask.type_id,
        "read": {_text(k): _text(v) for k, v in found.items()},
        "missing": Spooler.read_task_file(paths[1] + ".gone"),
        "tasks": len(Spooler.get_tasks()),
    }
