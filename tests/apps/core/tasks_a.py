from recorder import record

from spoolrt import Spooler


@Spooler.task()
def dup(tag):
    record("dup", module="tasks_a", tag=tag)
    return True
