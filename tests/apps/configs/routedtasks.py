"""Tasks routed to named spoolers (uwsgi_configs/named_spoolers.ini)."""

from cfgrecorder import record
from cfgtasks import hello  # noqa: F401  - the default (first) spooler's task

from spoolrt import Spooler

mail = Spooler.get_by_basename("mail")
reports = Spooler.get_by_basename("reports")
assert mail is not None and reports is not None, "run under uwsgi_configs/named_spoolers.ini"


@mail.task()
def send_mail(tag):
    record("send_mail", tag=tag)
    return tag


@reports.task()
def build_report(tag):
    record("build_report", tag=tag)
    return tag
