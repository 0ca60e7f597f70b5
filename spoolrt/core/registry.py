"""Where the spooler finds task code again: task types by ``type_id``, task functions by name.

A spool file names a task *type* (``SpoolerTask.type_id``); the function-call type then names a
*function* (``module:qualname`` by default). Both registries refuse a second, different owner of
a name when it is defined, but accept the same definition run again: uWSGI's ``spooler-import``
can execute a task module a second time in the spooler process, and a module can be imported
under two names (``app.tasks`` and ``tasks``). "The same definition" means the same place in the
same source file, which is also the rule the schedule registry uses (``definition_site``).

Pure: dictionaries and a rule, nothing here imports task code or touches the disk.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from spoolrt.core.errors import DuplicateTaskName, UnknownTask, UnknownTaskType

#: type_id -> ``SpoolerTask`` subclass, filled by ``SpoolerTask.__init_subclass__``.
task_types: dict[str, Any] = {}

#: task name -> ``TaskFunction``, filled by the ``task`` decorators.
task_functions: dict[str, Any] = {}

#: The type_id of the built-in task type that runs a registered function.
FUNCTION_CALL_TYPE = "fcall"

Site = tuple[str, str, int]


def definition_site(obj: Any) -> Site | None:
    """Where ``obj`` (a function, a class, or a wrapper of one) is defined: the real path of its
    source file, its qualname, and for a function its first line. None when it cannot be told
    (built in, defined in a string); such objects never count as the same definition."""
    inner = getattr(obj, "__wrapped__", obj)
    qualname = getattr(inner, "__qualname__", None)
    code = getattr(inner, "__code__", None)
    if code is not None:
        filename, line = code.co_filename, int(code.co_firstlineno)
    else:
        module = sys.modules.get(getattr(inner, "__module__", "") or "")
        filename, line = getattr(module, "__file__", None) or "", 0
    if not isinstance(qualname, str) or not filename or filename.startswith("<"):
        return None
    return os.path.realpath(filename), qualname, line


def register(registry: dict[str, Any], name: str, owner: Any) -> None:
    """Claim ``name`` in ``registry`` for ``owner``.

    The same definition run again replaces the old entry, and so does anything defined in
    ``__main__`` (a script re-run in a shell); a different definition is refused.
    """
    current = registry.get(name)
    if current is not None and current is not owner:
        site = definition_site(owner)
        same = site is not None and site == definition_site(current)
        if not same and getattr(owner, "__module__", "") != "__main__":
            raise DuplicateTaskName(
                f"task name {name!r} is already taken by {current!r}; give one of them "
                "another name (task(name=...) or type_id)"
            )
    registry[name] = owner


def resolve_function(name: str) -> Any:
    """The registered task function called ``name``; ``UnknownTask`` when there is none."""
    try:
        return task_functions[name]
    except KeyError:
        raise UnknownTask(
            f"no task function {name!r} is registered in this process (is its module imported "
            "in the spooler? see spooler-import)"
        ) from None


def resolve_type(type_id: str) -> Any:
    """The ``SpoolerTask`` subclass registered as ``type_id``; ``UnknownTaskType`` otherwise."""
    try:
        return task_types[type_id]
    except KeyError:
        raise UnknownTaskType(f"no SpoolerTask with type_id {type_id!r}") from None
