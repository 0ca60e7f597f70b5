"""A half-migrated tasks module: spoolrt first, then uwsgiconf's runtime spooler, which sets
uwsgi.spooler when it is imported. Both kinds of task must keep running."""
# isort: skip_file

from recorder import record

from spoolrt import Spooler
from uwsgiconf.runtime.spooler import Spooler as UcfgSpooler  # after spoolrt: it sets uwsgi.spooler


@Spooler.task()
def migrated(n):
    record("migrated", n=n)
    return n


@UcfgSpooler.task()
def not_yet(n):
    record("not_yet", n=n)
    return True


def trigger():
    return [str(migrated(1)), str(not_yet(2))]
