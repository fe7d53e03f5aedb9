"""REST API v1: each app contributes its routes."""

from django.urls import include, path

# Labeling first: its claim and submit are most of the API's requests, and Django tries the
# patterns in order (the two apps' paths do not overlap).
urlpatterns = [
    path("", include("labeling.api.urls")),
    path("", include("projects.api.urls")),
    path("", include("agreement.api.urls")),
    path("", include("agreement.api.figures_urls")),
    path("", include("exports.api.webhook_urls")),
    path("", include("exports.api.urls")),
]
