"""URLs: the AI art gallery at the root, the pattern studio under /patterns/, the admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("patterns/", include("patterns.urls")),
    path("", include("gallery.urls")),
    # Generated images. This is a local teaching site, so Django serves them itself.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
