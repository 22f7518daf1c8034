"""URLs of the style studio (mounted at /styles/)."""

from django.urls import path

from . import views

app_name = "styles"
urlpatterns = [
    path("", views.index, name="index"),
    path("samples/", views.try_sample, name="try_sample"),
    path("<int:style_id>/", views.detail, name="detail"),
    path("<int:style_id>/status/", views.status, name="status"),
    path("<int:style_id>/save/<int:index>/", views.save_variation, name="save_variation"),
]
