"""Import jobs: upload a file, follow its progress, retry it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.parsers import UploadParser
from projects.api import serializers as s
from projects.api.permissions import (
    IsProjectLead,
    request_user,
)
from projects.api.views.common import ProjectNestedMixin, valid
from projects.models import ImportJob
from projects.services.imports import import_job_create, import_job_retry

# --- import jobs -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Import jobs of the project, newest first (lead)"),
    retrieve=extend_schema(summary="One import job: poll it for status and progress (lead)"),
    create=extend_schema(
        summary="Upload a file to import (lead); the work runs in the background",
        request={"multipart/form-data": s.ImportJobCreateInputSerializer},
        responses={201: s.ImportJobSerializer},
    ),
)
class ImportJobViewSet(ProjectNestedMixin, viewsets.GenericViewSet[ImportJob]):
    permission_classes = [IsAuthenticated, IsProjectLead]
    serializer_class = s.ImportJobSerializer
    # Only create takes a body, and that is a file.
    parser_classes = [UploadParser]

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return ImportJob.objects.none()
        return ImportJob.objects.filter(project_id=self.kwargs["project_pk"]).select_related(
            "created_by"
        )

    def list(self, request: Request, project_pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ImportJobSerializer(page, many=True).data)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.ImportJobSerializer(self.get_object()).data)

    def create(self, request: Request, project_pk: int) -> Response:
        data = valid(s.ImportJobCreateInputSerializer, request.data)
        job = import_job_create(
            project=self.get_project(), uploaded_file=data["file"],
            created_by=request_user(request), source="api", format=data["format"],
        )  # fmt: skip
        job.refresh_from_db()  # the task may already have run (in-process without Redis)
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Run a failed import again (lead)",
        request=None,
        responses=s.ImportJobSerializer,
    )
    def retry(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.ImportJobSerializer(import_job_retry(job=self.get_object())).data)
