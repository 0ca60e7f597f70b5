"""The value a task call returns."""

from __future__ import annotations


class TaskHandle(str):
    """The spool-file path as ``str`` (what uwsgiconf returned), plus the task's id and name.

    Being a ``str`` keeps code written for uwsgiconf working; ``task_id`` is what survives
    retries (each retry is a new file) and what the result store knows the task by.
    """

    task_id: str
    task_name: str
    spooler: str

    def __new__(cls, path: str, *, task_id: str, task_name: str, spooler: str) -> TaskHandle:
        handle = super().__new__(cls, path)
        handle.task_id = task_id
        handle.task_name = task_name
        handle.spooler = spooler
        return handle

    @property
    def id(self) -> str:
        return self.task_id

    @property
    def path(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task_name} id={self.task_id} path={self.path}>"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.path, self.task_id, self.task_name, self.spooler))


def _rebuild(path: str, task_id: str, task_name: str, spooler: str) -> TaskHandle:
    return TaskHandle(path, task_id=task_id, task_name=task_name, spooler=spooler)
