"""Every module in this package may define ``Subject`` subclasses; they are found here.

Adding a subject is adding a module: no list to edit. A class counts when it sets ``name``
itself (intermediate base classes such as ``UwsgiSubject`` do not). A module that fails to
import (say, the library it measures is half-written) costs only its own subjects.
"""

from __future__ import annotations

import importlib
import pkgutil

from benchmarks.subject import Subject


def discover() -> tuple[list[type[Subject]], dict[str, str]]:
    """All subject classes (baseline first, then by ``order`` and name), and broken modules.

    The second value maps each module that could not be imported to the reason.
    """
    broken: dict[str, str] = {}
    for module in pkgutil.iter_modules(__path__):
        try:
            importlib.import_module(f"{__name__}.{module.name}")
        except Exception as exc:
            broken[module.name] = f"{type(exc).__name__}: {exc}"
    found: dict[str, type[Subject]] = {}
    pending = list(Subject.__subclasses__())
    while pending:
        subclass = pending.pop()
        pending.extend(subclass.__subclasses__())
        if "name" not in vars(subclass):
            continue
        if found.setdefault(subclass.name, subclass) is not subclass:
            raise RuntimeError(f"two subjects are named {subclass.name!r}")
    ordered = sorted(found.values(), key=lambda cls: (not cls.is_baseline, cls.order, cls.name))
    return ordered, broken
