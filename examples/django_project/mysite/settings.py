"""Settings of the example project: one app (orders), SQLite, spoolrt."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Only for trying it out: set DJANGO_SECRET_KEY for anything real. spoolrt derives its task
# signing key from this one, so web workers and spoolers agree without more setup.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-example-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "spoolrt.contrib.django",
    "orders",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", BASE_DIR / "db.sqlite3"),
        # Web workers and the spooler write to one file: wait for each other's locks.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# Everything optional; see `pydoc spoolrt.contrib.django`. Under `manage.py spoolrt serve`
# the spool directory is ./.spoolrt-state/spool unless SPOOL_DIRS names one.
SPOOLRT = {
    "RETRIES": 2,
}
