"""WSGI entry point for the gallery."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery_site.settings")
application = get_wsgi_application()
