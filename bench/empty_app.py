"""An empty WSGI app: the ceiling of ``make bench``'s HTTP section (section 2).

It answers every request with two bytes and does nothing else, so its requests per second under
gunicorn, driven by the same load loop, are the most that any request can reach on this machine
with this server and client. Never serve it for anything else.
"""

from __future__ import annotations


def application(environ, start_response):
    """WSGI entry point: ``200 ok`` for everything."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
