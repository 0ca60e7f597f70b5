"""Django integration: add ``"spoolrt.contrib.django"`` to ``INSTALLED_APPS``.

Settings, all optional, in one dict::

    SPOOLRT = {
        "SPOOL_DIRS": [BASE_DIR / "spool"],  # where tasks go outside uWSGI (and for the CLI)
        "SECRET_KEY": "...",                 # default: derived from SECRET_KEY (see below)
        "EAGER": False,                      # True: run tasks inline at call time (tests)
        "RETRIES": 3, "RETRY_DELAY": 1.0,    # defaults for every task
        "RESULTS": "all",                    # the result store keeps: all, status, off
        "TASK_MODULES": ["tasks"],           # what to import from every installed app
        "REMOTE": {"reports": ["10.0.0.5:3031", "10.0.0.6:3031"]},  # pools of nodes
        "DASHBOARDS": {"reports": ["10.0.0.5:9181", "10.0.0.6:9181"]},  # their dashboards
        "SCHEDULER": True,                   # False on every node of a pool but one
    }

Every key but ``TASK_MODULES`` is the upper-case name of a ``spoolrt.configure()`` option; an
unknown key, or a value of the wrong type (``"EAGER": "maybe"``; ``"false"`` and ``"3"`` are read
as ``False`` and 3, see ``spoolrt.core.config.read_setting``), stops start-up with
``ImproperlyConfigured`` naming the key, so ``manage.py check`` fails on it too.
``override_settings(SPOOLRT=...)`` applies in tests.

**Signing key.** By default derived from ``SECRET_KEY`` (HMAC with a fixed purpose, so the
spool key is not Django's key), and ``SECRET_KEY_FALLBACKS`` are accepted while you rotate.
Web workers and spoolers that load the same settings agree on it. ``SPOOLRT["SECRET_KEY"]`` or
``$SPOOLRT_SECRET_KEY`` take precedence (the latter lets a process that does not load Django
share the key).

**Task discovery.** ``<app>.tasks`` of every installed app is imported when Django starts, in
web workers and in spoolers alike.

**Under uWSGI** the spooler must set Django up: ``spooler-import =
spoolrt.contrib.django.spooler`` (with ``DJANGO_SETTINGS_MODULE`` in the environment).
``python manage.py spoolrt serve -w 4 --threads 8`` writes such a configuration and runs it.
Around each task the spooler closes database connections that are broken or older than
``CONN_MAX_AGE``, as Django does around each request.

**Enqueue after commit.** A task spooled inside a transaction can start before the transaction
commits, and then not find the rows it was spooled for (or run for a rolled-back change).
Spool it from ``transaction.on_commit``::

    from functools import partial
    from django.db import transaction

    with transaction.atomic():
        order = Order.objects.create(...)
        transaction.on_commit(partial(fulfil_order, order.pk))

The callback runs when the outermost transaction commits, which may be after the view returns
(``ATOMIC_REQUESTS``): store what you need from the handle inside the callback. In a
``TestCase`` nothing commits; wrap the call in ``self.captureOnCommitCallbacks(execute=True)``.

**Commands.** ``python manage.py spoolrt <command>`` is the ``spoolrt`` command with the project
set up: ``serve``, ``ls``, ``show``, ``stats``, ``run``, ``retry``, ``purge``, ``worker``.
"""
