"""A project with annotations is archived, not deleted: through the API, the pages and the admin.
An archived project is read-only and leaves the lists unless asked for.

alice leads `project`, bob and carol rate in it, mallory leads a project of her own.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from labeling.assignment import item_claim
from labeling.models import Annotation
from labeling.services import annotation_submit
from projects.models import Item, Project
from projects.services.archive import project_archive
from tests.api_clients import session_client
from tests.factories import UserFactory, make_items, make_project
from tests.projects.test_api import API, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled(project, bob) -> Project:
    """alice's project, where bob has labeled one item and holds another."""
    make_items(project, 3)
    hold = item_claim(project=project, rater=bob)[0]
    annotation_submit(
        project=project, item_id=hold.item.pk, rater=bob, value="positive", client_id=uuid.uuid4()
    )
    item_claim(project=project, rater=bob)
    return project


def page_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the API -----------------------------------------------------------------------------------


def test_deleting_a_labeled_project_answers_409_and_names_the_archive_route(labeled, alice):
    api = session_client(alice)
    error = assert_error(api.delete(f"{API}/projects/{labeled.pk}/"), 409, message="archive it")
    assert error["code"] == "project_has_annotations"
    assert f"POST /api/v1/projects/{labeled.pk}/archive/" in error["message"]
    assert Annotation.objects.filter(project=labeled).count() == 1
    archived = api.post(f"{API}/projects/{labeled.pk}/archive/")
    assert archived.status_code == 200 and archived.json()["archived_at"]
    assert Project.objects.get(pk=labeled.pk).archived_at is not None


def test_a_project_nobody_labeled_in_is_deleted(project, alice, bob):
    make_items(project, 2)
    item_claim(project=project, rater=bob)
    assert session_client(alice).delete(f"{API}/projects/{project.pk}/").status_code == 204
    assert not Item.objects.filter(project_id=project.pk).exists()


def test_an_archived_project_is_read_only_everywhere_in_the_api(labeled, alice, bob, mallory):
    project_archive(project=labeled)
    lead, rater = session_client(alice), session_client(bob)
    base = f"{API}/projects/{labeled.pk}"
    item = labeled.items.first()
    assert lead.get(f"{base}/").status_code == 200
    assert lead.get(f"{base}/items/").status_code == 200
    upload = SimpleUploadedFile("more.csv", b"key,text\nz,Fine.\n")
    refused = [
        lead.patch(f"{base}/", {"name": "Renamed"}, format="json"),
        lead.post(f"{base}/labels/", {"value": "mixed"}, format="json"),
        lead.patch(f"{base}/items/{item.pk}/", {"priority": 3}, format="json"),
        lead.post(f"{base}/imports/", {"file": upload}, format="multipart"),
        lead.post(f"{base}/members/", {"username": "mallory"}, format="json"),
        lead.post(f"{base}/invitations/", {}, format="json"),
        rater.post(f"{base}/labeling/claim/", {}, format="json"),
        rater.post(f"{base}/labeling/items/{item.pk}/submit/",
                   {"value": "negative", "client_id": str(uuid.uuid4())}, format="json"),
        lead.post(f"{base}/assignments/", {"rater": "carol", "item_ids": [item.pk]},
                  format="json"),
    ]  # fmt: skip
    for response in refused:
        assert assert_error(response, 409, message="archived")["code"] == "project_archived"
    # Taking access away stays possible: a lead removes a member.
    carol = labeled.memberships.get(user__username="carol")
    assert lead.delete(f"{base}/members/{carol.pk}/").status_code == 204
    assert lead.post(f"{base}/unarchive/").json()["archived_at"] is None
    assert lead.patch(f"{base}/", {"name": "Renamed"}, format="json").status_code == 200


def test_archived_projects_leave_the_list_unless_asked_for(labeled, alice):
    make_project(lead=alice, name="Active one")
    project_archive(project=labeled)
    api = session_client(alice)

    def names(query: str = "") -> list[str]:
        return [p["name"] for p in api.get(f"{API}/projects/{query}").json()["results"]]

    assert names() == ["Active one"]
    assert names("?archived=true") == ["Sentiment"]
    assert sorted(names("?archived=all")) == ["Active one", "Sentiment"]
    assert_error(api.get(f"{API}/projects/?archived=maybe"), 400, message="archived")


# --- the pages ---------------------------------------------------------------------------------


def test_alice_archives_on_the_settings_page_and_finds_it_behind_the_filter(labeled, alice, bob):
    lead = page_for(alice)
    settings = f"/projects/{labeled.pk}/settings/"
    assert "Archive project" in lead.get(settings).content.decode()
    assert lead.post(f"/projects/{labeled.pk}/archive/")["Location"] == settings
    home = lead.get("/")
    assert home.context["cards"] == [] and "Show archived (1)" in home.content.decode()
    shown = lead.get("/?archived=true").context["cards"]
    assert [card["project"] for card in shown] == [labeled]
    overview = lead.get(f"/projects/{labeled.pk}/").content.decode()
    assert "This project is archived" in overview and "Start labeling" not in overview
    refused = lead.post(settings, {"name": "Renamed"})
    assert refused.status_code == 200
    assert Project.objects.get(pk=labeled.pk).name == "Sentiment"
    rater = page_for(bob)
    moved = rater.get(f"/label/{labeled.pk}/")
    assert moved.status_code == 302 and moved["Location"] == f"/projects/{labeled.pk}/"
    assert "Unarchive project" in lead.get(settings).content.decode()
    lead.post(f"/projects/{labeled.pk}/unarchive/")
    assert rater.get(f"/label/{labeled.pk}/").status_code == 200


# --- the admin ---------------------------------------------------------------------------------


def test_the_admin_refuses_to_delete_a_labeled_project_and_offers_archive(labeled, alice):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    admin = page_for(alice)
    url = f"/admin/projects/project/{labeled.pk}/delete/"
    page = admin.get(url).content.decode()
    assert "it has annotations; archive it instead" in page and "“Archive” action" in page
    refused = admin.post(url, {"post": "yes"})  # the same page again, listing why
    assert refused.status_code == 200 and "archive it instead" in refused.content.decode()
    bulk = admin.post(
        "/admin/projects/project/",
        {"action": "delete_selected", "_selected_action": [labeled.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 403)
    assert Project.objects.filter(pk=labeled.pk).exists()
    assert Annotation.objects.filter(project=labeled).count() == 1
    admin.post("/admin/projects/project/", {"action": "archive", "_selected_action": [labeled.pk]})
    assert Project.objects.get(pk=labeled.pk).archived_at is not None
    listed = admin.get("/admin/projects/project/")
    assert labeled not in list(listed.context["cl"].result_list)
    shown = admin.get("/admin/projects/project/?archived=true")
    assert list(shown.context["cl"].result_list) == [labeled]
    change = admin.post(f"/admin/projects/project/{labeled.pk}/change/", {"name": "Renamed"})
    assert change.status_code == 403
    admin.post(
        "/admin/projects/project/?archived=true",
        {"action": "unarchive", "_selected_action": [labeled.pk]},
    )
    assert Project.objects.get(pk=labeled.pk).archived_at is None


def test_a_superuser_deletes_a_project_nobody_labeled_in_from_the_admin(project):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    make_items(project, 2)
    response = page_for(root).post(f"/admin/projects/project/{project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
