"""URLs of the model workshop (mounted at /models/)."""

from django.urls import path

from . import views

app_name = "workshop"
urlpatterns = [
    path("", views.index, name="index"),
    path("train/", views.train, name="train"),
    path("<int:record_id>/", views.detail, name="detail"),
    path("<int:record_id>/status/", views.status, name="status"),
]
