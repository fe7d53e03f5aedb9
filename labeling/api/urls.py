from typing import Any

from django.urls import path

from labeling.api import imports, members, views

base = "projects/<int:project_pk>/labeling/"
project = "projects/<int:project_pk>"
LIST: dict[str, Any] = {"get": "list", "post": "create"}
DETAIL: dict[str, Any] = {
    "get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"
}  # fmt: skip
urlpatterns = [
    path(f"{base}claim/", views.ClaimView.as_view(), name="api-labeling-claim"),
    path(f"{base}progress/", views.ProgressView.as_view(), name="api-labeling-progress"),
    path(f"{base}history/", views.HistoryView.as_view(), name="api-labeling-history"),
    path(
        f"{base}items/<int:item_pk>/submit/", views.SubmitView.as_view(), name="api-labeling-submit"
    ),
    path(f"{base}items/<int:item_pk>/skip/", views.SkipView.as_view(), name="api-labeling-skip"),
    path(f"{base}items/<int:item_pk>/renew/", views.RenewView.as_view(), name="api-labeling-renew"),
    path(
        "projects/<int:project_pk>/assignments/",
        views.AssignView.as_view(),
        name="api-labeling-assign",
    ),
    path(f"{project}/members/", members.MemberViewSet.as_view(LIST), name="api-member-list"),
    path(
        f"{project}/members/<int:pk>/",
        members.MemberViewSet.as_view(DETAIL),
        name="api-member-detail",
    ),
    path(
        f"{project}/annotations/imports/",
        imports.AnnotationImportJobViewSet.as_view(LIST),
        name="api-annotation-import-list",
    ),
    path(
        f"{project}/annotations/imports/<int:pk>/",
        imports.AnnotationImportJobViewSet.as_view({"get": "retrieve"}),
        name="api-annotation-import-detail",
    ),
    path(
        f"{project}/annotations/imports/<int:pk>/retry/",
        imports.AnnotationImportJobViewSet.as_view({"post": "retry"}),
        name="api-annotation-import-retry",
    ),
]
