"""The WSGI application every uWSGI-hosted subject runs (loaded with ``--module``).

It loads the adapter named by ``$BENCH_ADAPTER`` when the master imports it, so the adapter's
spooler callable exists before the spoolers fork, and then serves ``benchmarks.ops`` over HTTP:
POST a JSON ``{"op": name, "params": {...}}``, get ``{"result": ...}`` or, with status 500,
``{"error": traceback}``. It only ever listens on the unix socket the harness gives it.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks import split_timer
from benchmarks.ops import run_op
from benchmarks.subject import ENV_ADAPTER, Settings, load_adapter

_settings = Settings.from_env()
_adapter = load_adapter(_settings.extra[ENV_ADAPTER], _settings)
_adapter.install()
split_timer.install()  # only with $BENCH_SPLIT_DIR (python -m benchmarks.drain_split)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        body = {"result": run_op(_adapter, request["op"], request.get("params", {}))}
        status = "200 OK"
    except Exception:
        body = {"error": traceback.format_exc()}
        status = "500 Internal Server Error"
    payload = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
