"""``GET /generate/<METHOD>.png``: a new image straight from a model, nothing stored.

The create page shows one as a live preview while the creativity slider moves, and scripts can
fetch images without filling the gallery. It is the gallery's hottest path, and a pure function
of the URL, so it is answered in two places from this one function, :func:`answer`:

- :class:`PreviewMiddleware`, a WSGI layer in ``gallery_site/wsgi.py``, answers it before
  Django's middleware stack (sessions, CSRF, messages) is ever entered: a preview reads no
  cookie, writes nothing and renders no template, so those layers would be pure cost. It checks
  the Host header against ``ALLOWED_HOSTS`` as Django would, and sends the security headers
  Django's SecurityMiddleware would add.
- :func:`gallery.views.preview`, an ordinary view, serves the same answer when the WSGI layer is
  not in front (the test client, ``reverse()``-made URLs under another prefix).

Query string: ``creativity`` (0.1 to 2.0, default 1.0) and ``seed`` (a whole number from 0 to
2**32 - 1; the same seed gives the same image, and ``POST /create/`` with that seed keeps it).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from . import generation

logger = logging.getLogger(__name__)

__all__ = ["PATH", "SEED_MAX", "Answer", "PreviewMiddleware", "answer"]

#: The URL the WSGI layer answers; the view's URL pattern (gallery/urls.py) is the same.
PATH = re.compile(r"^/generate/(?P<method>[^/]+)\.png$")
SEED_MAX = 2**32 - 1
ALLOWED = ("GET", "HEAD")
#: What Django's SecurityMiddleware adds to every answer with the gallery's settings.
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as plain data: status code, headers and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _error(status: int, message: str, extra: Iterable[tuple[str, str]] = ()) -> Answer:
    body = json.dumps({"success": False, "error": message}).encode()
    headers = [("Content-Type", "application/json"), *extra]
    return Answer(status, headers, body)


def _query(query_string: str) -> tuple[float, int | None]:
    """``creativity`` and ``seed`` from the query string, or a ValueError that says why not."""
    try:
        fields = parse_qs(query_string, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise ValueError("The query string has too many fields.") from None
    for name in ("creativity", "seed"):
        if len(fields.get(name, ())) > 1:
            raise ValueError(f"Give {name} once, not {len(fields[name])} times.")
    creativity_text = fields.get("creativity", [str(generation.CREATIVITY_DEFAULT)])[0]
    try:
        creativity = generation.check_creativity(float(creativity_text))
    except ValueError:
        raise ValueError(
            f"Creativity must be a number from {generation.CREATIVITY_MIN} to "
            f"{generation.CREATIVITY_MAX}, got {creativity_text[:40]!r}."
        ) from None
    seed = None
    if "seed" in fields:
        text = fields["seed"][0]
        if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= SEED_MAX):
            raise ValueError(f"The seed must be a whole number from 0 to {SEED_MAX}.")
        seed = int(text)
    return creativity, seed


def answer(method: str, query_string: str, request_method: str = "GET") -> Answer:
    """The whole endpoint: refusals as JSON 4xx/503 with a message, or the PNG."""
    if request_method not in ALLOWED:
        return _error(
            405,
            f"{request_method} is not allowed here; this address accepts GET and HEAD.",
            [("Allow", ", ".join(ALLOWED))],
        )
    if method not in generation.CHECKPOINTS:
        return _error(
            404,
            f"{method[:40]!r} is not a generation method; use VAE, GAN or AUTOENCODER.",
        )
    try:
        creativity, seed = _query(query_string)
    except ValueError as error:
        return _error(400, str(error))
    try:
        png = generation.preview_png(method, creativity, seed)
    except generation.ModelUnavailable as error:
        return _error(503, str(error))
    headers = [
        ("Content-Type", "image/png"),
        # A seeded image is the same until the model is retrained; a random one never repeats.
        ("Cache-Control", "private, max-age=60" if seed is not None else "no-store"),
    ]
    return Answer(200, headers, png)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}

StartResponse = Callable[..., object]


class PreviewMiddleware:
    """WSGI layer: answer ``/generate/<METHOD>.png`` itself, pass everything else to ``app``."""

    def __init__(self, app: Callable[[dict, StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    @staticmethod
    def _host_is_allowed(environ: dict) -> bool:
        """Django's Host check (``HttpRequest.get_host``), without building a request."""
        hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not hosts:  # Django's own rule for development
            hosts = [".localhost", "127.0.0.1", "[::1]"]
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        domain, _port = split_domain_port(host)
        return bool(domain) and validate_host(domain, hosts)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        match = PATH.match(environ.get("PATH_INFO", ""))
        if match is None:
            return self.app(environ, start_response)
        if not self._host_is_allowed(environ):
            result = _error(400, "This host name is not served here (ALLOWED_HOSTS).")
        else:
            request_method = environ.get("REQUEST_METHOD", "GET")
            result = answer(match["method"], environ.get("QUERY_STRING", ""), request_method)
        if result.status >= 500:
            logger.error("preview %s: %s", environ.get("PATH_INFO"), result.body[:300])
        body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else result.body
        headers = [
            *result.headers,
            *SECURITY_HEADERS,
            ("Content-Length", str(len(result.body))),
        ]
        start_response(f"{result.status} {_REASONS[result.status]}", headers)
        return [body]
