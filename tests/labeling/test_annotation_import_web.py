"""Annotation imports through the API and the lead's pages: upload, follow, retry, errors in the
API's JSON shape, the schema, and who may do it.

alice leads the Sentiment project (k=2); bob rates in it; mallory leads another project only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from labeling.models import Annotation, AnnotationImportJob
from projects.models import Membership
from projects.services.archive import project_archive
from tests.api_clients import session_client, token_client
from tests.factories import make_items

pytestmark = pytest.mark.django_db

API = "/api/v1"
CROWD = b"item_key,rater,value\nitem-0,worker-17,positive\nitem-0,bob,negative\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def items(project):
    return make_items(project, 3)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def assert_error(response: Any, status: int, *, message: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and message in error["message"], error
    return error


def url_of(project: Any) -> str:
    return f"{API}/projects/{project.pk}/annotations/imports/"


# --- the API -----------------------------------------------------------------------------------


def test_a_lead_uploads_gets_202_with_the_jobs_location_and_polls_it(
    project, items, alice, django_capture_on_commit_callbacks
):
    api, url = token_client(alice), url_of(project)

    with django_capture_on_commit_callbacks(execute=True):  # the task runs, in-process
        response = api.post(url, {"file": upload("crowd.csv", CROWD)}, format="multipart")

    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"] == f"http://testserver{url}{job['id']}/"
    assert (job["original_name"], job["source"], job["created_by"], job["format"]) == (
        "crowd.csv", "api", "alice", "csv",
    )  # fmt: skip
    polled = api.get(response["Location"]).json()
    assert polled["status"] == "succeeded" and polled["is_finished"] is True
    assert (polled["created_count"], polled["external_rater_count"], polled["row_count"]) == (
        2, 1, 2,
    )  # fmt: skip
    assert polled["percent"] == 100 and polled["errors"] == []
    assert Annotation.objects.filter(project=project).count() == 2
    assert [j["id"] for j in api.get(url).json()["results"]] == [job["id"]]


def test_a_rejected_file_shows_its_problems_and_only_a_failed_job_is_retried(
    project, items, alice, django_capture_on_commit_callbacks
):
    api, url = session_client(alice), url_of(project)
    bad = b"item_key,rater,value\nitem-0,worker-17,postive\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"file": upload("bad.csv", bad)}, format="multipart")
    assert response.status_code == 202
    failed = api.get(f"{url}{response.json()['id']}/").json()

    assert (failed["status"], failed["phase"], failed["error_count"]) == ("failed", "rejected", 1)
    assert {k: failed["errors"][0][k] for k in ("location", "field", "value")} == {
        "location": "line 2", "field": "value", "value": "postive",
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        retried = api.post(f"{url}{failed['id']}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert_error(api.post(f"{url}{failed['id']}/retry/"), 400, message="only a failed")


def test_what_cannot_be_imported_is_a_400_naming_it_and_no_job(project, items, alice):
    api, url = session_client(alice), url_of(project)

    def post(data: dict[str, Any]) -> Any:
        return api.post(url, data, format="multipart")

    error = assert_error(post({"file": upload("a.json", b'[{"item_key": "x"}]')}), 400,
                         message="JSON Lines")  # fmt: skip
    assert "file" in error["fields"]
    assert_error(post({"file": upload("empty.csv", b"")}), 400, message="empty")
    assert_error(post({"file": upload("a.csv", CROWD), "format": "xml"}), 400, message="format")
    assert_error(post({"file": upload("a.csv", CROWD), "owner": "x"}), 400, message="Unknown")
    assert_error(post({}), 400, message="file")
    assert_error(api.post(url, {"file": "x"}, format="json"), 415)
    assert not AnnotationImportJob.objects.exists()
    project_archive(project=project)
    assert_error(post({"file": upload("a.csv", CROWD)}), 409, message="archived")


def test_only_the_projects_leads_import(project, items, bob, mallory):
    assert_error(session_client(bob).post(url_of(project), {"file": upload("a.csv", CROWD)},
                                          format="multipart"), 403)  # fmt: skip
    assert_error(session_client(bob).get(url_of(project)), 403)
    assert_error(session_client(mallory).get(url_of(project)), 404)
    assert_error(session_client(None).get(url_of(project)), 401)
    assert not AnnotationImportJob.objects.exists()


def test_the_schema_documents_the_upload_its_202_and_examples(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    path = schema["paths"][f"{API}/projects/{{project_pk}}/annotations/imports/"]
    create = path["post"]
    assert set(create["requestBody"]["content"]) == {"multipart/form-data"}
    accepted = create["responses"]["202"]
    assert "Location" in accepted["headers"]
    assert accepted["content"]["application/json"]["examples"]
    assert {"400", "401", "403", "404", "409", "413", "415", "429"} <= set(create["responses"])
    detail = schema["paths"][f"{API}/projects/{{project_pk}}/annotations/imports/{{id}}/"]["get"]
    examples = detail["responses"]["200"]["content"]["application/json"]["examples"]
    assert {"Succeeded", "Rejected"} <= set(examples)
    assert (
        "post"
        in schema["paths"][f"{API}/projects/{{project_pk}}/annotations/imports/{{id}}/retry/"]
    )


# --- the pages ---------------------------------------------------------------------------------


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_item_import_page_links_to_the_annotation_import_page(project, alice):
    page = signed_in(alice).get(f"/projects/{project.pk}/import/").content.decode()

    assert f'href="/projects/{project.pk}/annotations/import/"' in page


def test_the_upload_page_says_what_a_row_holds_for_this_projects_labels(project, alice):
    project.labels.filter(value="neutral").update(archived=True)

    page = signed_in(alice).get(f"/projects/{project.pk}/annotations/import/").content.decode()

    for field in ("item_key", "rater", "value", "created_at", "time_spent_ms"):
        assert f"<code>{field}</code>" in page
    assert '<code>neutral</code> <span class="muted small">(archived)</span>' in page
    assert "any other name for an external rater" in page
    assert "cannot sign in, and get no items to label" in page


def test_a_lead_uploads_on_the_page_follows_the_job_and_retries_a_failed_one(
    project, items, alice, django_capture_on_commit_callbacks
):
    client = signed_in(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/projects/{project.pk}/annotations/import/",
                               {"file": upload("crowd.csv", CROWD), "format": "auto"})  # fmt: skip
    job = AnnotationImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/annotations/imports/{job.pk}/"

    page = client.get(response["Location"]).content.decode()
    assert "crowd.csv" in page and "Succeeded" in page
    assert 'data-job-counts="created_count">2<' in page
    assert "See the external raters" in page
    state = client.get(f"{response['Location']}status.json").json()
    assert state["status"] == "succeeded" and state["counts"]["created_count"] == 2
    history = client.get(f"/projects/{project.pk}/annotations/import/").content.decode()
    assert f'href="/projects/{project.pk}/annotations/imports/{job.pk}/"' in history

    AnnotationImportJob.objects.filter(pk=job.pk).update(status="failed")
    with django_capture_on_commit_callbacks(execute=False):
        retried = client.post(f"{response['Location']}retry/", follow=True)
    assert "The annotation import was started again." in retried.content.decode()
    assert AnnotationImportJob.objects.get(pk=job.pk).status == "pending"


def test_a_rejected_upload_lists_its_problems_on_the_job_page(
    project, items, alice, django_capture_on_commit_callbacks
):
    client = signed_in(alice)
    bad = upload("bad.csv", b"item_key,rater,value\nnope,w,positive\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/projects/{project.pk}/annotations/import/", {"file": bad, "format": "auto"}
        )
    response = client.get(response["Location"])

    page = response.content.decode()
    assert "Problems in the file" in page and "no item of this project has this key." in page
    assert "<code>nope</code>" in page and "Upload a corrected file" in page


def test_a_file_the_service_refuses_comes_back_on_the_form(project, alice):
    response = signed_in(alice).post(
        f"/projects/{project.pk}/annotations/import/",
        {"file": upload("a.json", b'[{"item_key": "x"}]'), "format": "auto"},
    )

    assert response.status_code == 200
    assert "JSON Lines" in response.content.decode()
    assert not AnnotationImportJob.objects.exists()


def test_the_members_page_lists_people_first_then_external_raters(
    project, items, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session_client(alice).post(url_of(project), {"file": upload("c.csv", CROWD)},
                                   format="multipart")  # fmt: skip
    page = signed_in(alice).get(f"/projects/{project.pk}/members/").content.decode()

    assert page.index("<b>carol</b>") < page.index("<b>worker-17</b>")
    assert Membership.objects.get(external_name="worker-17").user.username not in page
