"""The user's API: task functions and task types (``tasks``), the uwsgiconf-style ``Spooler``
(``spooler``), and everything scheduled (``schedules/``). ``spoolrt`` re-exports what users
import."""
