"""Tasks every config in uwsgi_configs/ is tested with (imported by the app and spooler-import)."""

import time

from cfgrecorder import record

from spoolrt import Spooler, current_task


@Spooler.task()
def hello(tag):
    record("hello", tag=tag)
    return tag


@Spooler.task(retries=1, retry_delay=0.5)
def slow(tag, seconds):
    task = current_task()
    record("slow-start", tag=tag, attempt=task.attempt if task else 0)
    time.sleep(seconds)
    record("slow-end", tag=tag)
    return tag
