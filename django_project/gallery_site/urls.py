"""URLs: the AI art gallery at the root, the pattern studio under /patterns/, the style studio
under /styles/, the admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve


def media(request, path: str):
    """Serve a generated image; this is a local teaching site, so Django serves them itself.

    ``MEDIA_ROOT`` is read per request (not when this module is imported), so a notebook or a
    test that points it elsewhere is honoured.
    """
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("patterns/", include("patterns.urls")),
    path("styles/", include("styles.urls")),
    path("media/<path:path>", media, name="media"),
    path("", include("gallery.urls")),
]
