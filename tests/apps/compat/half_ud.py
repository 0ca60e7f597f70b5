"""A half-migrated tasks module: spoolrt first, then uWSGI's own uwsgidecorators, which sets
uwsgi.spooler and uwsgi.post_fork_hook when it is imported. Both kinds of task, and both
post-fork hooks, must keep running."""
# isort: skip_file

import uwsgi
from recorder import record

from spoolrt import Spooler
import uwsgidecorators  # after spoolrt: it sets uwsgi.spooler


@Spooler.task()
def migrated(n):
    record("migrated", n=n)
    return n


@uwsgidecorators.spool
def not_yet(args):
    record("not_yet", n=args["n"])


@uwsgidecorators.postfork
def forked():
    record("postfork", spooler=bool(uwsgi.i_am_the_spooler()))


def trigger():
    return [str(migrated(1)), not_yet.spool(n="2").decode()]
