"""Routes of the datasets API, under /api/v1/projects/{project_pk}/datasets/.

A version is named by its id, `v<number>` or `latest` (exports.selectors.VERSION_REF). A file's
route ends with the file's own name (which may hold a folder, `images/<sha256>.png`) rather than
a slash, so that clients that go by the name's extension read it as what it is.
"""

from __future__ import annotations

from django.urls import URLPattern, path, register_converter

from exports.api import views
from exports.selectors import VERSION_REF


class VersionRefConverter:
    regex = VERSION_REF

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(VersionRefConverter, "version_ref")

datasets = "projects/<int:project_pk>/datasets"
version = f"{datasets}/versions/<version_ref:version>"

urlpatterns: list[URLPattern] = [
    path(f"{datasets}/versions/", views.VersionListView.as_view(), name="api-dataset-version-list"),
    path(f"{version}/", views.VersionDetailView.as_view(), name="api-dataset-version-detail"),
    path(
        f"{version}/manifest/",
        views.VersionManifestView.as_view(),
        name="api-dataset-version-manifest",
    ),
    path(f"{version}/files/", views.VersionFilesView.as_view(), name="api-dataset-version-files"),
    path(f"{version}/files/<path:name>", views.FileDownloadView.as_view(), name="api-dataset-file"),
    path(f"{version}/retry/", views.VersionRetryView.as_view(), name="api-dataset-version-retry"),
    path(f"{datasets}/diff/", views.DiffView.as_view(), name="api-dataset-diff"),
]
