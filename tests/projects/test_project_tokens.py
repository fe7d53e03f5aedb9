"""Project tokens: a lead makes one for a pipeline; it reads one project's items and labels and
can do nothing else. Personal tokens stay as they were, one statement on the hot path.

alice leads `project`, bob rates in it, carol rates in it too, mallory leads another project.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from labeling.members import membership_set, user_deactivate
from projects.models import ApiToken, Project, Role
from projects.services.tokens import api_token_create, project_token_create
from tests.api_clients import secret_client, session_client, token_client
from tests.factories import make_items
from tests.projects.test_api import API, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline(project, alice) -> tuple[ApiToken, Any]:
    make_items(project, 3)
    token, secret = project_token_create(project=project, created_by=alice, name="nightly")
    return token, secret_client(secret)


def test_a_pipeline_reads_its_projects_items_and_labels_as_a_lead_does(project, pipeline):
    token, api = pipeline
    items = api.get(f"{API}/projects/{project.pk}/items/?status=open")
    assert items.status_code == 200
    assert len(items.json()["results"]) == 3
    assert {"gold_value", "status"} <= set(items.json()["results"][0])
    one = items.json()["results"][0]["id"]
    assert api.get(f"{API}/projects/{project.pk}/items/{one}/").status_code == 200
    labels = api.get(f"{API}/projects/{project.pk}/labels/").json()["results"]
    assert [label["value"] for label in labels] == ["positive", "negative", "neutral"]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_pipeline_writes_nothing_and_reaches_nothing_else(project, pipeline, mallory):
    _, api = pipeline
    item = project.items.first()
    theirs = Project.objects.get(name="Mallory's own project")
    refused = [
        (api.patch(f"{API}/projects/{project.pk}/items/{item.pk}/", {"priority": 9},
                   format="json"), 403),
        (api.post(f"{API}/projects/{project.pk}/labels/", {"value": "x"}, format="json"), 403),
        (api.get(f"{API}/projects/{project.pk}/"), 403),
        (api.get(f"{API}/projects/"), 403),
        (api.get(f"{API}/projects/{project.pk}/members/"), 403),
        (api.get(f"{API}/projects/{project.pk}/imports/"), 403),
        (api.post(f"{API}/projects/{project.pk}/labeling/claim/", {}, format="json"), 403),
        (api.get(f"{API}/projects/{project.pk}/labeling/progress/"), 403),
        (api.get(f"{API}/me/"), 403),
        (api.get(f"{API}/tokens/"), 403),
        (api.post(f"{API}/tokens/", {"name": "more"}, format="json"), 403),
        (api.post(f"{API}/projects/{project.pk}/tokens/", {"name": "more"}, format="json"), 403),
        (api.post(f"{API}/projects/{project.pk}/invitations/", {}, format="json"), 403),
        (api.get(f"{API}/projects/{theirs.pk}/items/"), 404),
        (api.get(f"{API}/projects/{theirs.pk}/labels/"), 404),
    ]  # fmt: skip
    for response, status in refused:
        assert_error(response, status)
    assert ApiToken.objects.count() == 1
    assert project.items.get(pk=item.pk).priority == 0


def test_a_project_token_stops_when_its_creator_no_longer_leads(project, alice, bob, pipeline):
    _, api = pipeline
    url = f"{API}/projects/{project.pk}/items/"
    membership_set(project=project, user=bob, role=Role.LEAD)  # the project keeps a lead
    membership_set(project=project, user=alice, role=Role.RATER)
    response = api.get(url)
    assert_error(response, 401, message="no longer leads")
    membership_set(project=project, user=alice, role=Role.LEAD)
    assert api.get(url).status_code == 200
    user_deactivate(user=alice)
    assert_error(api.get(url), 401)
    page = Client()
    page.force_login(bob)
    listed = page.get(f"/projects/{project.pk}/tokens/")
    assert "Stopped" in listed.content.decode()


def test_a_token_with_only_the_dataset_scope_reads_no_items(project, alice):
    _, secret = project_token_create(
        project=project, created_by=alice, name="datasets", scopes=["datasets:read"]
    )
    response = secret_client(secret).get(f"{API}/projects/{project.pk}/items/")
    assert_error(response, 403, message="lacks the scope 'items:read'")


def test_project_token_scopes_are_checked_when_made(project, alice):
    with pytest.raises(ValidationError, match="not yet offered"):
        project_token_create(project=project, created_by=alice, name="x", scopes=["feedback:write"])
    with pytest.raises(ValidationError, match="Unknown scope"):
        project_token_create(project=project, created_by=alice, name="x", scopes=["items:write"])
    with pytest.raises(ValidationError, match="at least one"):
        project_token_create(project=project, created_by=alice, name="x", scopes=[])
    token, _ = project_token_create(project=project, created_by=alice, name="x")
    assert token.scope_list == ["datasets:read", "items:read"]


def test_a_lead_creates_lists_and_revokes_project_tokens_over_the_api(project, alice, bob):
    api = session_client(alice)
    url = f"{API}/projects/{project.pk}/tokens/"
    created = api.post(url, {"name": "nightly", "scopes": ["items:read"]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("acp_") and body["scopes"] == ["items:read"]
    assert body["project"] == project.pk and body["created_by"] == "alice"
    listed = api.get(url).json()["results"]
    assert [t["name"] for t in listed] == ["nightly"] and "secret" not in listed[0]
    # A project token is not alice's personal token: her own list does not show it.
    assert api.get(f"{API}/tokens/").json()["results"] == []
    assert_error(session_client(bob).get(url), 403)
    assert api.delete(f"{url}{body['id']}/").status_code == 204
    assert_error(secret_client(body["secret"]).get(f"{API}/projects/{project.pk}/items/"), 401)


def test_a_lead_creates_a_pipeline_token_on_the_project_page_and_sees_it_once(project, alice):
    page = Client()
    page.force_login(alice)
    url = f"/projects/{project.pk}/tokens/"
    response = page.post(url, {"name": "nightly", "scopes": ["items:read", "datasets:read"]})
    assert response.status_code == 302
    shown = page.get(url).content.decode()
    secret = shown.split('id="new-token-secret" value="')[1].split('"')[0]
    assert secret.startswith("acp_")
    assert secret not in page.get(url).content.decode(), "shown once"
    token = ApiToken.objects.get(project=project)
    assert secret_client(secret).get(f"{API}/projects/{project.pk}/items/").status_code == 200
    revoked = page.post(f"/projects/{project.pk}/tokens/{token.pk}/revoke/")
    assert revoked.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert page.get("/tokens/").context["tokens"].count() == 0  # not a personal token


def test_a_personal_token_is_read_in_one_statement_on_the_labeling_hot_path(project, bob):
    make_items(project, 4)
    api = token_client(bob)
    claim_url = f"{API}/projects/{project.pk}/labeling/claim/"
    first = api.post(claim_url, {}, format="json")  # records last_used_at once
    assert first.status_code == 200
    item_id = first.json()["items"][0]["item"]["id"]
    with CaptureQueriesContext(connection) as queries:
        claimed = api.post(claim_url, {}, format="json")
        submitted = api.post(
            f"{API}/projects/{project.pk}/labeling/items/{item_id}/submit/",
            {"value": "positive", "client_id": str(uuid.uuid4())}, format="json",
        )  # fmt: skip
    assert claimed.status_code == 200 and submitted.status_code == 201
    reads = [q["sql"] for q in queries.captured_queries if "projects_apitoken" in q["sql"]]
    assert len(reads) == 2, reads  # one per request: token, user, project and role together
    assert all("projects_membership" in sql and "projects_project" in sql for sql in reads)


def test_personal_tokens_still_act_as_their_user(project, bob):
    _, secret = api_token_create(user=bob, name="laptop")
    api = secret_client(secret)
    assert api.get(f"{API}/me/").json()["username"] == "bob"
    claimed = api.post(f"{API}/projects/{project.pk}/labeling/claim/", {}, format="json")
    assert claimed.status_code == 200
