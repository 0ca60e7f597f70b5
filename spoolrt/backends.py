"""``spoolrt.backends.force(...)``, as the README has always spelled it.

Where tasks go is chosen by ``spoolrt.sending.backends`` (see its docstring); this module only
keeps the documented names importable from their old place.
"""

from spoolrt.sending.backends import Backend, current, force, forced

__all__ = ["Backend", "current", "force", "forced"]
