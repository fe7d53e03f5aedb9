"""The API keeps to its OpenAPI schema under generated input: every operation of /api/schema/,
as a lead and as a rater (each with an API token), with every check the fuzzer has: no 500, no
status the schema does not list, no response that breaks the schema, invalid input refused, valid
input accepted (but for the rules OpenAPI cannot state: schemathesis.toml).

The budget is fixed and small (EXAMPLES per operation and role, derandomized, so a run is the same
every time); a large run by hand (README, "Fuzzing the API") is what finds the rare cases.

alice leads the project, bob rates in it; each holds two tokens, one to call with and one for the
token routes to act on (revoking the first would sign the caller out for the rest of the run);
the project has items (one held by bob, one gold), an import job of items and one of annotations,
an invitation and a pipeline token, whose ids stand in for the ids the fuzzer draws.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from labeling.assignment import item_claim
from labeling.models import AnnotationImportJob
from projects.models import ImportJob, Item, Project
from projects.services.invitations import invitation_create
from projects.services.tokens import api_token_create, project_token_create
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db

EXAMPLES = 20


def _schema() -> Any:
    """The schema /api/schema/ serves, generated once at collection."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = json.loads(OpenApiJsonRenderer().render(document))
    config = schemathesis.Config.from_path(Path(settings.BASE_DIR) / "schemathesis.toml")
    schema = schemathesis.openapi.from_dict(loaded, config=config)
    schema.app = WSGIHandler()  # requests go through the whole Django stack, in this process
    return schema


schema = _schema()


@dataclass
class World:
    project: Project
    item: Item
    headers: dict[str, dict[str, str]]
    spare_tokens: dict[str, int]
    label_id: int
    member_id: int
    import_id: int
    annotation_import_id: int
    invitation_id: int
    project_token_id: int

    def path_parameters(self, path: str, role: str, drawn: dict[str, Any]) -> dict[str, Any]:
        """Ids of real rows, so that generated input reaches the code behind the 404s. An id
        drawn as something else than an integer (a negative case) is left as drawn."""
        real = {
            "project_pk": self.project.pk,
            "item_pk": self.item.pk,
            "id": self._object_id(path, role),
        }
        return {
            name: real[name] if name in real and type(value) is int else value
            for name, value in drawn.items()
        }

    def _object_id(self, path: str, role: str) -> int:
        if path.startswith("/api/v1/tokens/"):
            return self.spare_tokens[role]
        for part, object_id in (
            ("/labels/", self.label_id),
            ("/members/", self.member_id),
            ("/annotations/imports/", self.annotation_import_id),
            ("/imports/", self.import_id),
            ("/invitations/", self.invitation_id),
            ("/tokens/", self.project_token_id),
            ("/items/", self.item.pk),
        ):
            if part in path:
                return object_id
        return self.project.pk


@pytest.fixture
def world() -> Iterator[World]:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    project = make_project(lead=alice, raters=[bob], raters_per_item=2)
    items = make_items(project, 4)
    Item.objects.filter(pk=items[3].pk).update(is_gold=True, gold_value="positive")
    item_claim(project=project, rater=bob)
    held = Item.objects.get(pk=bob.assignments.get().item_id)
    job = ImportJob.objects.create(project=project, created_by=alice, original_name="a.csv")
    annotation_job = AnnotationImportJob.objects.create(
        project=project, created_by=alice, original_name="crowd.csv"
    )
    invitation, _ = invitation_create(project=project, created_by=alice)
    project_token, _ = project_token_create(project=project, created_by=alice, name="pipeline")
    headers, spare = {}, {}
    for role, user in (("lead", alice), ("rater", bob)):
        _, secret = api_token_create(user=user, name="calls")
        spare[role] = api_token_create(user=user, name="spare")[0].pk
        headers[role] = {"Authorization": f"Token {secret}"}
    # Django closes the database connection around each request it handles, which would end
    # the test's transaction; its test client keeps it open the same way.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield World(
            project=project,
            item=held,
            headers=headers,
            spare_tokens=spare,
            label_id=project.labels.first().pk,
            member_id=project.memberships.get(user=bob).pk,
            import_id=job.pk,
            annotation_import_id=annotation_job.pk,
            invitation_id=invitation.pk,
            project_token_id=project_token.pk,
        )
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.mark.parametrize("role", ["lead", "rater"])
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema(case: Any, role: str, world: World) -> None:
    case.path_parameters = world.path_parameters(
        case.operation.path, role, case.path_parameters or {}
    )
    case.call_and_validate(headers=world.headers[role])
