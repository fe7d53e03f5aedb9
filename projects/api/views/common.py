"""What the API views share: input validation and the project of nested routes."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse
from rest_framework.serializers import BaseSerializer

from projects.api.permissions import (
    request_project_role,
)
from projects.models import Project

NO_CONTENT = {204: OpenApiResponse(description="Done; no body.")}


def valid(serializer_class: type[BaseSerializer[Any]], data: Any, **kwargs: Any) -> Any:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ProjectNestedMixin:
    """For views under /projects/{project_pk}/. The permission classes have already answered 404
    to a non-member, so the project is looked up by id alone."""

    project_lookup_kwarg = "project_pk"
    kwargs: dict[str, Any]
    request: Any

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(Project, pk=self.kwargs[self.project_lookup_kwarg])
        return self._project

    def caller_role(self) -> str | None:
        return request_project_role(self.request, int(self.kwargs[self.project_lookup_kwarg]))

    def is_schema_view(self) -> bool:
        return getattr(self, "swagger_fake_view", False)
