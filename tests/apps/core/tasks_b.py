from recorder import record

from spoolrt import Spooler


@Spooler.task()
def dup(tag):
    record("dup", module="tasks_b", tag=tag)
    return True
