"""URLs of the AI art gallery (mounted at the site root)."""

from django.urls import path

from . import views

app_name = "gallery"
urlpatterns = [
    path("", views.index, name="index"),
    path("create/", views.create, name="create"),
    path("generate/<str:method>.png", views.preview, name="preview"),
    path("explore/", views.explore, name="explore"),
    path("interpolate/", views.interpolate_pick, name="interpolate_pick"),
    path("interpolate/<int:first_id>/<int:second_id>/", views.interpolate, name="interpolate"),
    path("interpolate/<int:first_id>/<int:second_id>/morph.gif", views.morph_gif, name="morph_gif"),
    path("artworks/<int:artwork_id>/", views.artwork_page, name="artwork"),
    path("artworks/<int:artwork_id>/download/", views.download, name="download"),
    path("artworks/<int:artwork_id>/like/", views.like, name="like"),
]
