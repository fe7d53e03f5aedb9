"""REST API v1: each app contributes its routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("projects.api.urls")),
    path("", include("labeling.api.urls")),
]
