"""For uWSGI: ``spooler-import = spoolrt.contrib.django.spooler``.

Imported in each spooler process, it sets Django up there (settings from
``DJANGO_SETTINGS_MODULE``), which configures spoolrt from ``settings.SPOOLRT`` and imports every
app's ``tasks`` module. Needed with ``lazy-apps`` (the spooler is forked from a master that
never loaded the project); harmless without it (Django is then already set up).
"""

from __future__ import annotations

import os

import django
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise ImproperlyConfigured(
        "spoolrt.contrib.django.spooler needs DJANGO_SETTINGS_MODULE in the spooler's "
        "environment: add `env = DJANGO_SETTINGS_MODULE=mysite.settings` to the uWSGI ini"
    )

django.setup()

if not apps.is_installed("spoolrt.contrib.django"):
    raise ImproperlyConfigured(
        "add 'spoolrt.contrib.django' to INSTALLED_APPS: it configures spoolrt and finds the "
        "tasks modules in the spooler"
    )
