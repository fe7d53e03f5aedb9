"""Routes of the agreement figures API, under /api/v1/projects/{project_pk}/agreement/."""

from __future__ import annotations

from django.urls import URLPattern, path

from agreement.api import figures

agreement = "projects/<int:project_pk>/agreement"

urlpatterns: list[URLPattern] = [
    path(f"{agreement}/", figures.AgreementView.as_view(), name="api-agreement"),
    path(f"{agreement}/raters/", figures.ScorecardListView.as_view(), name="api-agreement-raters"),
    path(
        f"{agreement}/recomputes/",
        figures.RecomputeCreateView.as_view(),
        name="api-agreement-recompute-list",
    ),
    path(
        f"{agreement}/recomputes/<int:pk>/",
        figures.RecomputeDetailView.as_view(),
        name="api-agreement-recompute-detail",
    ),
    path(
        f"{agreement}/recomputes/<int:pk>/retry/",
        figures.RecomputeRetryView.as_view(),
        name="api-agreement-recompute-retry",
    ),
]
