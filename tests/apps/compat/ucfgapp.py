import json

import ucfg_shaped

import spoolrt

spoolrt.configure(retry_delay=0.2)  # keep the bounded retries of the test short


def application(environ, start_response):
    ping = environ["PATH_INFO"] == "/ping"
    body = b"pong" if ping else json.dumps(ucfg_shaped.trigger()).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
