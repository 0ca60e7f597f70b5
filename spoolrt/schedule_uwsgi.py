"""``shared-import = spoolrt.schedule_uwsgi``: install the schedule timer in a uWSGI master.

The documented entry point for ``lazy-apps`` instances, kept where it always was; the code lives
in ``spoolrt.runtime.ticker``. Importing this module in a uWSGI master registers the one-second
tick before the master forks; anywhere else it does nothing.
"""

from spoolrt.runtime.ticker import *  # noqa: F403  (the old module's names)
from spoolrt.runtime.ticker import install

install()
