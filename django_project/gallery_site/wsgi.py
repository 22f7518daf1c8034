"""WSGI entry point for the gallery: ``gunicorn -c gunicorn.conf.py`` (or any WSGI server).

Each worker process uses one PyTorch thread: a worker handles one request at a time, and
several workers with torch's default of one thread per core would fight over the cores (with
other work on the machine, one thread is several times faster than two; see the README).
Set here rather than in a gunicorn hook so that any WSGI server gets it.

``GET /generate/<METHOD>.png`` (a fresh image, nothing stored) is answered by a thin WSGI layer
before Django's middleware stack; everything else goes to Django. See ``gallery/previews.py``.
"""

import os

import torch
from django.core.wsgi import get_wsgi_application

torch.set_num_threads(1)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery_site.settings")
django_application = get_wsgi_application()  # sets Django up: apps can be imported after this

from gallery.previews import PreviewMiddleware  # noqa: E402

application = PreviewMiddleware(django_application)
