"""Annotation imports over the API: upload a file of labels made elsewhere, follow the job,
retry it. Leads only."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.parsers import UploadParser
from labeling.api import serializers as s
from labeling.imports import annotation_import_create, annotation_import_retry
from labeling.models import AnnotationImportJob
from projects.api.permissions import IsProjectLead, request_user
from projects.api.views.common import ProjectNestedMixin, valid

JOB_EXAMPLE = {
    "id": 12, "project": 3, "original_name": "crowd-batch-7.csv", "format": "csv",
    "source": "api", "row_count": 0, "created_count": 0, "changed_count": 0,
    "unchanged_count": 0, "closed_count": 0, "external_rater_count": 0, "created_by": "alice",
    "status": "pending", "phase": "", "progress": 0, "total": None, "percent": None,
    "error_count": 0, "errors": [], "message": "", "attempts": 0, "is_finished": False,
    "is_stalled": False, "created_at": "2026-12-07T18:40:00Z",
    "queued_at": "2026-12-07T18:40:00Z", "started_at": None, "heartbeat_at": None,
    "finished_at": None,
}  # fmt: skip
SUCCEEDED_EXAMPLE = {
    **JOB_EXAMPLE, "row_count": 3900, "created_count": 3705, "changed_count": 12,
    "unchanged_count": 183, "external_rater_count": 39, "status": "succeeded", "phase": "done",
    "progress": 3900, "total": 3900, "percent": 100, "attempts": 1, "is_finished": True,
    "started_at": "2026-12-07T18:40:01Z", "heartbeat_at": "2026-12-07T18:40:02Z",
    "finished_at": "2026-12-07T18:40:02Z",
    "message": "Imported 3,705 new annotations and 12 changed values, from 39 new external "
    "raters; 183 rows were already there.",
}  # fmt: skip
REJECTED_EXAMPLE = {
    **JOB_EXAMPLE, "status": "failed", "phase": "rejected", "attempts": 1, "is_finished": True,
    "error_count": 1, "finished_at": "2026-12-07T18:40:01Z",
    "errors": [{
        "location": "line 7", "field": "value", "value": "postive",
        "message": "value 'postive' is not a label of this project; use one of ['negative', "
        "'neutral', 'positive'].",
        "text": "line 7, field 'value', value 'postive': value 'postive' is not a label of this "
        "project; use one of ['negative', 'neutral', 'positive'].",
    }],
    "message": "The file was rejected: 1 problem. Nothing was imported; fix the file and upload "
    "it again.",
}  # fmt: skip
LOCATION = OpenApiParameter(
    "Location", type=str, location=OpenApiParameter.HEADER, response=[202],
    description="The job's URL: poll it for status and progress.",
)  # fmt: skip


@extend_schema_view(
    list=extend_schema(summary="Annotation imports of the project, newest first (lead)"),
    retrieve=extend_schema(
        summary="One annotation import: poll it for status and progress (lead)",
        examples=[
            OpenApiExample("Succeeded", value=SUCCEEDED_EXAMPLE, response_only=True),
            OpenApiExample("Rejected", value=REJECTED_EXAMPLE, response_only=True),
        ],
    ),
)
class AnnotationImportJobViewSet(ProjectNestedMixin, viewsets.GenericViewSet[AnnotationImportJob]):
    """Import annotations made elsewhere: a CSV or JSON Lines file of `item_key`, `rater`,
    `value` (optional `created_at`, `time_spent_ms`). A rater that is the username of a member
    of the project is that member; any other name is an external rater of the project, made at
    its first import. A bad file is rejected whole; the same file twice adds nothing."""

    permission_classes = [IsAuthenticated, IsProjectLead]
    serializer_class = s.AnnotationImportJobSerializer
    # Only create takes a body, and that is a file.
    parser_classes = [UploadParser]

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return AnnotationImportJob.objects.none()
        return AnnotationImportJob.objects.filter(
            project_id=self.kwargs["project_pk"]
        ).select_related("created_by")

    def list(self, request: Request, project_pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.AnnotationImportJobSerializer(page, many=True).data)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.AnnotationImportJobSerializer(self.get_object()).data)

    @extend_schema(
        summary="Upload a file of annotations to import (lead); the work runs in the background",
        request={"multipart/form-data": s.AnnotationImportCreateInputSerializer},
        responses={
            202: OpenApiResponse(
                s.AnnotationImportJobSerializer,
                description="Accepted: the job is queued. Poll the URL in Location.",
            )
        },
        parameters=[LOCATION],
        examples=[
            OpenApiExample(
                "A crowd's labels",
                value={"file": "item_key,rater,value\nreview-1,worker-17,positive\n"},
                request_only=True,
                description="multipart/form-data with the file (here its content); `format` is "
                "optional (auto, csv, jsonl).",
            ),
            OpenApiExample("Queued", value=JOB_EXAMPLE, response_only=True, status_codes=["202"]),
        ],
    )
    def create(self, request: Request, project_pk: int) -> Response:
        data = valid(s.AnnotationImportCreateInputSerializer, request.data)
        job = annotation_import_create(
            project=self.get_project(), uploaded_file=data["file"],
            created_by=request_user(request), source="api", format=data["format"],
        )  # fmt: skip
        job.refresh_from_db()  # the task may already have run (in-process without Redis)
        location = reverse(
            "api-annotation-import-detail", kwargs={"project_pk": project_pk, "pk": job.pk}
        )
        return Response(
            s.AnnotationImportJobSerializer(job).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(location)},
        )

    @extend_schema(
        summary="Run a failed annotation import again (lead)",
        request=None,
        responses=s.AnnotationImportJobSerializer,
    )
    def retry(self, request: Request, project_pk: int, pk: int) -> Response:
        job = annotation_import_retry(job=self.get_object())
        return Response(s.AnnotationImportJobSerializer(job).data)
