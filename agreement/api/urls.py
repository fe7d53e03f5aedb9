"""Routes of the agreement API, under /api/v1/projects/{project_pk}/."""

from __future__ import annotations

from django.urls import URLPattern, path

from agreement.api import views

project = "projects/<int:project_pk>"
conflict = f"{project}/conflicts/<int:conflict_id>"

urlpatterns: list[URLPattern] = [
    path(f"{project}/conflicts/", views.ConflictListView.as_view(), name="api-conflict-list"),
    path(f"{conflict}/", views.ConflictDetailView.as_view(), name="api-conflict-detail"),
    path(f"{conflict}/resolve/", views.ConflictResolveView.as_view(), name="api-conflict-resolve"),
    path(f"{conflict}/reopen/", views.ConflictReopenView.as_view(), name="api-conflict-reopen"),
    path(f"{project}/annotations/", views.AnnotationListView.as_view(), name="api-annotation-list"),
    path(
        f"{project}/agreement/items/",
        views.ItemAgreementListView.as_view(),
        name="api-item-agreement-list",
    ),
]
