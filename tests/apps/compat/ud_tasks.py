"""The spooler examples of uWSGI's PythonDecorators docs, as they are written for
``uwsgidecorators`` (``print`` replaced by ``record`` so the test can see what ran). The
compatibility test rewrites only the import line below."""

import time

import uwsgi
from recorder import record
from uwsgidecorators import *  # noqa: F403


@spool  # noqa: F405
def a_long_long_task(arguments):
    record("a_long_long_task", arguments=arguments)


@spool  # noqa: F405
def a_longer_task(args):
    record("a_longer_task", args=args)


@spool(pass_arguments=True)  # noqa: F405
def some_task(*args, **kwargs):
    record("some_task", args=list(args), kwargs=repr(sorted(kwargs.items())))


@spool  # noqa: F405
def delayed_task(args):
    record("delayed_task", at=float(args["at"]), started=time.time())


@spool  # noqa: F405
def big_body_task(args):
    record("big_body_task", length=len(args["body"]), head=args["body"].swapcase()[:5])


@spoolforever  # noqa: F405
def an_infinite_task(args):
    record("an_infinite_task", args=args["foo"])


@spoolraw  # noqa: F405
def a_controlled_task(args):
    record("a_controlled_task", foo=args["foo"])
    if args["foo"] == "bar":
        return uwsgi.SPOOL_OK
    return uwsgi.SPOOL_RETRY


@spoolraw(pass_arguments=True)  # noqa: F405
def a_controlled_task_kw(**kwargs):
    record("a_controlled_task_kw", foo=kwargs["foo"], age=kwargs["age"])
    if kwargs["foo"] == "bar":
        return uwsgi.SPOOL_OK
    return uwsgi.SPOOL_RETRY


@timer(2, target="spooler")  # noqa: F405
def two_seconds_in_the_spooler(num):
    record("timer", num=num, in_spooler=bool(uwsgi.i_am_the_spooler()))
