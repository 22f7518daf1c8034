"""URLs: the AI art gallery at the root, the pattern studio under /patterns/, the style studio
under /styles/, the admin, and the generated images under /media/."""

from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.static import serve

# The admin says whose it is (Django's default reads "Django administration").
admin.site.site_header = "AI Art Gallery · course admin"
admin.site.site_title = "AI Art Gallery admin"
admin.site.index_title = "Artworks, patterns and styles of the generative models course"

# Only pictures are public: MEDIA_ROOT also holds trained style checkpoints (styles/models/).
MEDIA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
# Every stored image gets a fresh random name and is never rewritten, so a cached copy can
# never be stale: browsers may keep it for a year without asking again.
MEDIA_CACHE_CONTROL = "public, max-age=31536000, immutable"


def media(request, path: str):
    """Serve a generated or uploaded image, with DEBUG on or off (gunicorn included).

    Anything that is not an image under ``MEDIA_ROOT`` is a 404: ``..`` paths, absolute paths
    and symlinks that lead outside it, folders, and non-image files. ``MEDIA_ROOT`` is read per
    request (not when this module is imported), so a notebook or a test that points it elsewhere
    is honoured. A front proxy may serve /media/ itself instead; this keeps one process enough.
    """
    if PurePosixPath(path).suffix.lower() not in MEDIA_SUFFIXES:
        raise Http404("Only images are served under /media/.")
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        # resolve() follows ``..`` and symlinks, so whatever escapes the root is caught here.
        target = (root / path).resolve()
        found = target.is_relative_to(root) and target.is_file()
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL byte
        found = False
    if not found:
        raise Http404("No such image.")
    response = serve(request, target.relative_to(root).as_posix(), document_root=root)
    response["Cache-Control"] = MEDIA_CACHE_CONTROL
    return response


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico on pages without a <link rel="icon"> (a PNG, JSON):
    point them at the static icon that every HTML page links."""
    return HttpResponseRedirect(static("site/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("patterns/", include("patterns.urls")),
    path("styles/", include("styles.urls")),
    path("models/", include("workshop.urls")),
    path("media/<path:path>", media, name="media"),
    path("", include("gallery.urls")),
]
