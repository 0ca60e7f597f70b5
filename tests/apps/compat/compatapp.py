import json

import ucfg_tasks


def application(environ, start_response):
    ping = environ["PATH_INFO"] == "/ping"
    body = b"pong" if ping else json.dumps(ucfg_tasks.trigger()).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
