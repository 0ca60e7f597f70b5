"""Drop-in modules for code written against other spooler APIs: change the import, keep the code.

- ``spoolrt.compat.uwsgidecorators``: the spooler part of uWSGI's ``uwsgidecorators``
  (``@spool``, ``@spoolraw``, ``@spoolforever``, ``@timer``/``@cron`` with ``target='spooler'``).
- ``spoolrt.compat.uwsgiconf``: the whole of ``uwsgiconf.runtime.spooler`` 2.4.
- ``spoolrt.compat.autotask``: django-autotask's ``delayed_task``, ``periodic_task``, ``cron_task``.

Each keeps the original's documented behaviour where code depends on it and adds spoolrt's
guarantees (signed files, bounded retries ending in the failed area, one run per schedule slot).
``docs/migrating.md`` lists the lines to change and every difference. These modules use only
spoolrt's public API; nothing in spoolrt imports them.
"""
