"""The Django app that takes django-autotask's place in ``INSTALLED_APPS``.

It has no models and no migrations (spoolrt keeps its state beside the spool directory), and it
starts no worker: tasks run in the uWSGI spooler or ``spoolrt worker``. Configuring spoolrt from
the settings and importing the ``tasks`` modules of the installed apps is the job of
``spoolrt.contrib.django``, which must be installed too; this app says so at start-up rather
than leave every task call failing later.
"""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured

SPOOLRT_APP = "spoolrt.contrib.django"


class AutotaskCompatConfig(AppConfig):
    name = "spoolrt.compat.autotask"
    label = "spoolrt_autotask"
    verbose_name = "spoolrt (django-autotask API)"
    default = True

    def ready(self) -> None:
        if not apps.is_installed(SPOOLRT_APP):
            raise ImproperlyConfigured(
                f"{self.name!r} needs {SPOOLRT_APP!r} in INSTALLED_APPS as well: replace "
                f"'autotask' with {SPOOLRT_APP!r} and {self.name!r}"
            )
