"""Calls the uWSGI-docs tasks of ud_tasks the way the docs call them."""

import json
import time

import ud_tasks

import spoolrt

spoolrt.configure(retry_delay=0.2)  # keep the bounded retries of the test short


def trigger():
    soon = str(time.time() + 3).encode()
    return [
        ud_tasks.a_long_long_task.spool(foo="bar", hello="world"),
        ud_tasks.a_longer_task.spool({"pippo": "pluto"}),
        ud_tasks.some_task.spool(id=42, foo=["bar", "baz"], func=min, at=soon),
        ud_tasks.delayed_task.spool(at=soon),
        ud_tasks.big_body_task.spool(body=b"aB" * 50_000),
        ud_tasks.an_infinite_task.spool(foo="forever"),
        ud_tasks.a_controlled_task.spool(foo="bar"),
        ud_tasks.a_controlled_task.spool(foo="baz"),
        ud_tasks.a_controlled_task_kw.spool(foo="bar", age=42, priority=b"1"),
    ]


def application(environ, start_response):
    ping = environ["PATH_INFO"] == "/ping"
    body = b"pong" if ping else json.dumps([str(p) for p in trigger()]).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
