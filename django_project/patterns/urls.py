"""URLs of the pattern studio, mounted at /patterns/."""

from django.urls import path

from . import views

app_name = "patterns"

urlpatterns = [
    path("", views.index, name="index"),
    path("gallery/", views.gallery, name="gallery"),
    path("preview/", views.preview, name="preview"),
]
