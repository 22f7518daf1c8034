"""gunicorn settings for the gallery: ``gunicorn -c gunicorn.conf.py`` from ``django_project/``.

Sized for the course's 2-core laptop: ``WEB_CONCURRENCY`` sync workers (default 2), each a
separate process with its own copy of the models and one PyTorch thread (set in
``gallery_site/wsgi.py``), so two requests generate in parallel without oversubscribing the
CPU. Bound to 127.0.0.1:8000 unless ``GUNICORN_BIND`` says otherwise; put a TLS proxy (nginx,
Caddy) in front for a real deployment. Command-line flags still override all of this.
"""

import os
from pathlib import Path


def _workers() -> int:
    raw = os.environ.get("WEB_CONCURRENCY", "2")
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ValueError(f"WEB_CONCURRENCY={raw!r} must be a whole number of workers, at least 1")
    return workers


wsgi_app = "gallery_site.wsgi:application"
# Load the app from this folder wherever gunicorn is started (and put it on sys.path).
chdir = str(Path(__file__).resolve().parent)
bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]
workers = _workers()
worker_class = "sync"  # one request per process at a time: generation is CPU work
# The first request in a worker loads the models (a second or two); the style studio's
# training runs in `manage.py db_worker`, never in a web request.
timeout = 60
graceful_timeout = 30
# Each worker imports Django and torch itself rather than inheriting them through fork:
# forking after torch has started its thread pool is not safe.
preload_app = False
errorlog = "-"
accesslog = os.environ.get("GUNICORN_ACCESSLOG")  # "-" for stdout; off by default
# gunicorn's runtime control socket (for `gunicornc`) defaults to one path per user, so a second
# gunicorn (the tests, the benchmark) would take it over: only open it where one is named.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True


def post_worker_init(worker):
    """Log that a worker is ready and how many torch threads it will use (1 from wsgi.py)."""
    import torch

    threads = torch.get_num_threads()
    worker.log.info("gallery worker %s ready, torch threads: %d", worker.pid, threads)
