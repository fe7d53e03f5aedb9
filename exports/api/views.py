"""The datasets API, under /api/v1/projects/{project_pk}/datasets/: dataset versions (list,
build, detail with progress, retry), each ready version's manifest and files (downloads with a
strong ETag, 304, ranges and HEAD), and the diff between two versions.

A version is named in a URL by its id, by `v<number>` (`v3`), or by `latest`, the latest ready
version (`exports.selectors.VERSION_REF`). Leads do everything; a project token with
`datasets:read` reads (GET and HEAD) and nothing else; raters see no dataset (403).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.http import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from agreement.api.permissions import IsProjectLeadOrPipeline
from core.api.pagination import DefaultCursorPagination
from core.api.schema import ErrorSerializer
from core.http import stored_file_response
from exports.api import examples
from exports.api import serializers as s
from exports.diffs import DIFF_KINDS, DiffKind, VersionsDiff
from exports.models import DatasetFile, DatasetVersion
from exports.selectors import (
    LATEST,
    VERSION_REF,
    stored_file_of,
    version_by_ref,
    version_file,
    version_ready,
    versions_diff_of,
    versions_of,
)
from exports.services.build import dataset_version_request, dataset_version_retry
from projects.api.permissions import IsProjectLead, request_user
from projects.api.views.common import ProjectNestedMixin, valid
from projects.models import TokenScope

# A version named by id or number never changes; `latest` moves to each new version, so a
# client revalidates it every time (its ETag still gives 304 while it stays).
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"

VERSION_PARAMETER = OpenApiParameter(
    "version", str, OpenApiParameter.PATH, pattern=f"^({VERSION_REF})$",
    description="The version's id, `v<number>` (e.g. `v3`), or `latest` (the latest ready).",
)  # fmt: skip
NAME_PARAMETER = OpenApiParameter(
    "name", str, OpenApiParameter.PATH,
    description="The file's name in the version, e.g. `data.parquet` or `images/<sha256>.png`.",
)  # fmt: skip
NOT_READY = OpenApiResponse(
    ErrorSerializer,
    description="The version is not ready (building, failed, or an unchanged build with no "
    "files of its own): `version_not_ready`.",
)
LOCATION = OpenApiParameter(
    "Location", type=str, location=OpenApiParameter.HEADER, response=[202],
    description="The version's URL: poll it for status and progress.",
)  # fmt: skip
DOWNLOAD_HEADERS = [
    OpenApiParameter(name, type=str, location=OpenApiParameter.HEADER, response=[200, 206],
                     description=description)
    for name, description in (
        ("ETag", 'The sha256 of the file, quoted: a strong validator.'),
        ("Content-Length", "Bytes in this answer (the range's on a 206)."),
        ("Accept-Ranges", "`bytes`."),
        ("Last-Modified", "When the version became ready."),
        ("Content-Range", "On a 206: `bytes first-last/size`."),
    )
]  # fmt: skip


class _DatasetsView(ProjectNestedMixin, generics.GenericAPIView[Any]):
    permission_classes = [IsAuthenticated, IsProjectLeadOrPipeline]
    project_token_scopes: dict[str, str] = {"GET": TokenScope.DATASETS_READ}
    pagination_class: Any = None

    def version(self) -> DatasetVersion:
        return version_by_ref(
            project_id=int(self.kwargs["project_pk"]), ref=str(self.kwargs["version"])
        )

    def ready_version(self) -> DatasetVersion:
        return version_ready(self.version())


class ByIdPagination(DefaultCursorPagination):
    ordering = "pk"


class VersionListView(_DatasetsView, generics.ListAPIView[DatasetVersion]):
    serializer_class = s.DatasetVersionSerializer
    pagination_class = DefaultCursorPagination  # newest first, by id

    def get_permissions(self) -> list[Any]:
        if self.request is not None and self.request.method == "POST":
            return [IsAuthenticated(), IsProjectLead()]
        return list(super().get_permissions())

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return DatasetVersion.objects.none()
        versions = versions_of(project_id=int(self.kwargs["project_pk"]))
        query = valid(s.VersionListQuerySerializer, self.request.query_params)
        if query.get("status"):
            versions = versions.filter(status__in=query["status"])
        return versions

    @extend_schema(
        summary="The project's dataset versions and builds, newest first (lead, pipeline token "
        "with datasets:read)",
        description="Every build, ready or not; `status=succeeded` (comma-separated list) for "
        "the finished ones. A ready version has `is_ready` and a `number`.",
        parameters=[s.VersionListQuerySerializer],
        examples=examples.VERSION_LIST,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Build a dataset version from the labels of record as they are now (lead)",
        description="Answers 202 with the build and its URL in Location; poll it. A build over "
        "the same spec and unchanged labels ends as `outcome: unchanged`, pointing at the "
        "version it is the same as, with no files of its own. A spec that does not validate "
        "is a 400 naming the field.",
        request=s.VersionCreateInputSerializer,
        responses={
            202: OpenApiResponse(
                s.DatasetVersionDetailSerializer, description="Accepted: poll Location."
            ),
        },
        parameters=[LOCATION],
        examples=examples.VERSION_CREATE,
    )
    def post(self, request: Request, project_pk: int) -> Response:
        data = valid(s.VersionCreateInputSerializer, request.data)
        version = dataset_version_request(
            project=self.get_project(), spec=data["spec"], name=data["name"], note=data["note"],
            requested_by=request_user(request),
        )  # fmt: skip
        version = versions_of(project_id=project_pk).get(pk=version.pk)  # as the task left it
        location = reverse(
            "api-dataset-version-detail", kwargs={"project_pk": project_pk, "version": version.pk}
        )
        return Response(
            s.DatasetVersionDetailSerializer(version, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class VersionDetailView(_DatasetsView):
    serializer_class = s.DatasetVersionDetailSerializer

    @extend_schema(
        summary="One version: status, progress, counts and validation (lead, pipeline token)",
        description="`versions/latest/` is the latest ready version; `versions/v3/` number 3.",
        parameters=[VERSION_PARAMETER],
        examples=examples.VERSION_DETAIL,
    )
    def get(self, request: Request, project_pk: int, version: str) -> Response:
        return Response(self.get_serializer(self.version()).data)


class VersionRetryView(_DatasetsView):
    permission_classes = [IsAuthenticated, IsProjectLead]
    project_token_scopes: dict[str, str] = {}
    serializer_class = s.DatasetVersionDetailSerializer

    @extend_schema(
        summary="Build a failed (or stalled) version again (lead)",
        description="It starts afresh and leaves no partial files. 400 when the build is "
        "neither failed nor stalled.",
        request=None,
        parameters=[VERSION_PARAMETER],
        responses={200: s.DatasetVersionDetailSerializer},
    )
    def post(self, request: Request, project_pk: int, version: str) -> Response:
        retried = dataset_version_retry(version=self.version())
        return Response(
            self.get_serializer(versions_of(project_id=project_pk).get(pk=retried.pk)).data
        )


class VersionManifestView(_DatasetsView):
    @extend_schema(
        summary="A ready version's manifest.json, as JSON (lead, pipeline token)",
        description="What the version is and holds: the spec, counts, schema, every file with "
        "its size and sha256, the lineage and the validation against its parent. The same "
        "document as the file `manifest.json`.",
        parameters=[VERSION_PARAMETER],
        responses={200: OpenApiTypes.OBJECT, 409: NOT_READY},
        examples=[*examples.MANIFEST, examples.NOT_READY],
    )
    def get(self, request: Request, project_pk: int, version: str) -> Response:
        return Response(self.ready_version().manifest)


class VersionFilesView(_DatasetsView, generics.ListAPIView[DatasetFile]):
    serializer_class = s.DatasetFileSerializer
    pagination_class = ByIdPagination

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return DatasetFile.objects.none()
        return DatasetFile.objects.filter(version=self._version)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "version": getattr(self, "_version", None)}

    @extend_schema(
        summary="A ready version's files, with sizes, sha256 and download URLs (lead, pipeline "
        "token)",
        parameters=[VERSION_PARAMETER],
        responses={200: s.DatasetFileSerializer(many=True), 409: NOT_READY},
        examples=examples.FILES,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._version = self.ready_version()
        return self.list(request, *args, **kwargs)


class FileDownloadView(_DatasetsView):
    @extend_schema(
        summary="Download a file of a ready version (lead, pipeline token); HEAD for headers",
        description="A strong `ETag` (the file's sha256, quoted; the manifest lists it), "
        "`Content-Length`, `Accept-Ranges: bytes` and `Last-Modified`. `If-None-Match` naming "
        "the ETag answers 304; one `Range` (`bytes=a-b`, `a-`, `-n`) answers 206 with "
        "`Content-Range` (416 when it is past the end), unless `If-Range` names another ETag; "
        "HEAD answers the headers alone. Named by id or number, a file is cached as immutable; "
        "under `latest`, revalidated every time.",
        parameters=[VERSION_PARAMETER, NAME_PARAMETER, *DOWNLOAD_HEADERS],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, with its own Content-Type."
            ),
            (206, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The bytes of the range asked for."
            ),
            304: OpenApiResponse(description="If-None-Match names the current ETag."),
            409: NOT_READY,
            412: OpenApiResponse(
                ErrorSerializer, description="If-Match names another ETag: `precondition_failed`."
            ),
            416: OpenApiResponse(
                ErrorSerializer,
                description="The range is outside the file (`Content-Range: bytes */size`).",
            ),
        },
    )
    def get(self, request: Request, project_pk: int, version: str, name: str) -> HttpResponseBase:
        ready = self.ready_version()
        file = version_file(version=ready, name=name)
        cache = REVALIDATE if version == LATEST else IMMUTABLE
        stored = stored_file_of(
            file, made_at=ready.ready_at or ready.finished_at or ready.created_at
        )
        try:
            return stored_file_response(request._request, stored, cache_control=cache)
        except FileNotFoundError as error:
            raise exceptions.NotFound(f"The file '{name}' is missing from storage.") from error

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A file is the file whatever the client accepts; only an error is rendered, as JSON.
        return JSONRenderer(), JSONRenderer.media_type


# --- the diff ------------------------------------------------------------------------------------


def _cursor_text(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def _cursor_key(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = ""
    if not key:
        raise exceptions.ValidationError({"cursor": ["Invalid cursor."]})
    return key


class DiffView(_DatasetsView):
    @extend_schema(
        summary="What changed from one ready version to another (lead, pipeline token)",
        description="Items added, removed, relabeled, and otherwise changed (same label, "
        "another row: its split, text, confidence...), by item key; the counts of each label "
        "transition and split move; and the first page of each kind's items by key. With "
        "`kind`, a page of that kind alone, the next one by `cursor` (`next` gives its URL). "
        "Labels are compared as text: a multi-label set as its sorted labels joined by '|'.",
        parameters=[s.DiffQuerySerializer],
        responses={200: s.DiffSerializer, 409: NOT_READY},
        examples=[*examples.DIFF, *examples.DIFF_PAGE],
    )
    def get(self, request: Request, project_pk: int) -> Response:
        query = valid(s.DiffQuerySerializer, request.query_params)
        old = version_ready(version_by_ref(project_id=project_pk, ref=query["from"]))
        new = version_ready(version_by_ref(project_id=project_pk, ref=query["to"]))
        diff = versions_diff_of(old=old, new=new)
        size, kind = query["page_size"], query.get("kind")
        if kind is not None:
            after = _cursor_key(query["cursor"]) if query.get("cursor") else None
            return Response(self._page(diff, kind, after=after, size=size))
        if query.get("cursor"):
            raise exceptions.ValidationError({"cursor": ["A cursor pages one kind: give `kind`."]})
        return Response(
            {
                "from": _ref(old),
                "to": _ref(new),
                "counts": diff.counts,
                "transitions": [vars(t) for t in diff.transitions],
                "split_moves": [vars(t) for t in diff.split_moves],
                **{k: self._page(diff, k, after=None, size=size) for k in DIFF_KINDS},
            }
        )

    def _page(
        self, diff: VersionsDiff, kind: DiffKind, *, after: str | None, size: int
    ) -> dict[str, Any]:
        page = diff.page(kind, after=after, limit=size)
        following = None
        if page.after is not None:
            params = self.request.query_params.copy()
            params["kind"], params["cursor"] = kind, _cursor_text(page.after)
            following = self.request.build_absolute_uri(f"{self.request.path}?{params.urlencode()}")
        return {
            "kind": kind, "count": diff.counts[kind], "next": following,
            "results": [vars(row) for row in page.rows],
        }  # fmt: skip


def _ref(version: DatasetVersion) -> dict[str, Any]:
    return {"id": version.pk, "number": version.number, "label": version.label}
