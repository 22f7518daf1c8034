"""WSGI entry point for the gallery: ``gunicorn -c gunicorn.conf.py`` (or any WSGI server).

Each worker process uses one PyTorch thread: a worker handles one request at a time, and
several workers with torch's default of one thread per core would fight over the cores (with
other work on the machine, one thread is several times faster than two; see the README).
Set here rather than in a gunicorn hook so that any WSGI server gets it. Every URL, the
``/generate/<METHOD>.png`` previews included, goes through Django and all its middleware.
"""

import os

from django.core.wsgi import get_wsgi_application

from course_lib.runtime import use_threads

use_threads(1)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery_site.settings")
application = get_wsgi_application()
