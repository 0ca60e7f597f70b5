"""The dashboard in a Django project, behind Django's own users::

    # urls.py
    path("spoolrt/", include("spoolrt.contrib.django.urls")),

Staff (``is_staff``) may look; a superuser, or a user with the ``spoolrt.operate_dashboard``
permission (``OPERATE_PERMISSION``; grant it from any auth backend), may also act. Anyone else
is sent to the login page (anonymous) or refused (403). The spool directories are
``settings.SPOOLRT["SPOOL_DIRS"]`` as configured for spoolrt. The view is exempt from Django's
CSRF middleware because the dashboard checks its own token on every ``POST`` (a double-submit
cookie of its mount path), which Django's middleware would not know.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from spoolrt.contrib._mount import PRINCIPAL, call, mounted_environ
from spoolrt.core.config import get_settings
from spoolrt.dashboard import Dashboard

app_name = "spoolrt"

#: The permission that lets a staff user act (retry, cancel, run now), besides superusers.
OPERATE_PERMISSION = "spoolrt.operate_dashboard"

_dashboards: dict[tuple[str, ...], Dashboard] = {}


def may(user: Any, method: str) -> bool:
    """Staff read; superusers and holders of ``OPERATE_PERMISSION`` also act."""
    if not (user.is_active and user.is_staff):
        return False
    if method in ("GET", "HEAD"):
        return True
    return bool(user.is_superuser or user.has_perm(OPERATE_PERMISSION))


def authorize(environ: dict[str, Any], method: str, path: str) -> bool:
    """The dashboard's ``authorize``: the Django user the view put in the environ."""
    user = environ.get(PRINCIPAL)
    return user is not None and may(user, method)


def dashboard() -> Dashboard:
    """The dashboard over spoolrt's configured spool directories (one per set of them: the
    settings may change under ``override_settings``)."""
    dirs = tuple(get_settings().spool_dirs)
    if not dirs:
        raise ImproperlyConfigured('the spoolrt dashboard needs settings.SPOOLRT["SPOOL_DIRS"]')
    if dirs not in _dashboards:
        _dashboards[dirs] = Dashboard(list(dirs), authorize=authorize)
    return _dashboards[dirs]


@csrf_exempt
def serve(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Every dashboard page and action below the include's prefix."""
    user = request.user  # django.contrib.auth's middleware
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    # request.path is SCRIPT_NAME + PATH_INFO: without ``rest`` it is where the include sits.
    mount = request.path[: len(request.path) - len(rest)] if rest else request.path
    environ = mounted_environ(
        request.META,
        script_name=mount,
        path_info=rest,
        body=request.body,
        user=user.get_username(),
        principal=user,
    )
    status, headers, body = call(dashboard(), environ)
    response = HttpResponse(body, status=status)
    for name, value in headers:
        if name.lower() == "set-cookie":  # Django sends (and its test client reads) cookies
            response.cookies.load(value)  # from response.cookies, not from a header
        else:
            response[name] = value
    return response


urlpatterns = [
    path("", serve, name="dashboard"),
    path("<path:rest>", serve, name="dashboard-page"),
]
