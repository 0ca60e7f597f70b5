"""Serve a test app's WSGI ``application`` outside uWSGI (stdlib wsgiref), so its task calls
take spoolrt's local backend. Run as a script: ``python serve_app.py HOST:PORT MODULE``."""

from __future__ import annotations

import importlib
import signal
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main(address: str, module: str) -> None:
    host, port = address.rsplit(":", 1)
    app = importlib.import_module(module).application
    server = make_server(host, int(port), app, handler_class=QuietHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
