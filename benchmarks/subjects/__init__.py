"""Every module in this package may define ``Subject`` subclasses; they are found here.

Adding a subject is adding a module: no list to edit. A class counts when it sets ``name``
itself (intermediate base classes such as ``UwsgiSubject`` do not).
"""

from __future__ import annotations

import importlib
import pkgutil

from benchmarks.subject import Subject


def discover() -> list[type[Subject]]:
    """All subject classes, baseline first, then by ``order`` and name."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found: dict[str, type[Subject]] = {}
    pending = list(Subject.__subclasses__())
    while pending:
        subclass = pending.pop()
        pending.extend(subclass.__subclasses__())
        if "name" not in vars(subclass):
            continue
        if found.setdefault(subclass.name, subclass) is not subclass:
            raise RuntimeError(f"two subjects are named {subclass.name!r}")
    return sorted(found.values(), key=lambda cls: (not cls.is_baseline, cls.order, cls.name))
