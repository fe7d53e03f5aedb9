"""The projects API as a lead, a rater and a pipeline use it.

alice leads `project`, bob and carol rate in it, mallory leads another project only.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from projects.models import ApiToken, ImportJob, Item, ItemStatus, Membership, Project, Role
from projects.services.images import image_store
from tests.api_clients import secret_client, session_client, token_client
from tests.factories import UserFactory, make_items, make_project

pytestmark = pytest.mark.django_db

API = "/api/v1"


def assert_error(response: Any, status: int, *, message: str = "") -> dict[str, Any]:
    """Every error is JSON: {"error": {"code", "message"}} with a message a person can read."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert message in error["message"], error["message"]
    return error


# --- projects ----------------------------------------------------------------------------------


def test_creating_a_project_with_labels_makes_the_caller_its_lead(bob):
    response = session_client(bob).post(
        f"{API}/projects/",
        {
            "name": "Toxicity",
            "instructions": "Mark **toxic** text.",
            "raters_per_item": 2,
            "labels": [
                {"value": "toxic", "display_name": "Toxic", "hotkey": "1"},
                {"value": "fine", "hotkey": "2", "color": "#00aa00"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Toxicity" and body["raters_per_item"] == 2
    assert body["my_role"] == Role.LEAD
    assert [(label["value"], label["hotkey"]) for label in body["labels"]] == [
        ("toxic", "1"),
        ("fine", "2"),
    ]
    assert body["labels"][1]["display_name"] == "fine"
    assert "<strong>toxic</strong>" in body["instructions_html"]
    assert body["item_counts"] == {"total": 0, **dict.fromkeys(ItemStatus.values, 0)}
    assert Membership.objects.get(project_id=body["id"]).user == bob


def test_a_project_breaking_a_rule_is_a_400_naming_it(alice):
    response = session_client(alice).post(
        f"{API}/projects/",
        {"name": "Scale", "label_kind": "rating", "rating_min": 5, "rating_max": 1},
        format="json",
    )
    error = assert_error(response, 400, message="rating_max (1) must be greater than")
    assert "rating_max" in error["fields"]
    response = session_client(alice).post(
        f"{API}/projects/",
        {"name": "Bad keys", "labels": [{"value": "a", "hotkey": "s"}]},
        format="json",
    )
    assert_error(response, 400, message="hotkey 's' is reserved")
    assert not Project.objects.filter(name__in=["Scale", "Bad keys"]).exists()


def test_each_user_lists_only_their_projects(project, alice, bob, mallory):
    assert [p["name"] for p in session_client(bob).get(f"{API}/projects/").json()["results"]] == [
        project.name
    ]
    mine = session_client(mallory).get(f"{API}/projects/").json()["results"]
    assert [(p["name"], p["my_role"]) for p in mine] == [("Mallory's own project", "lead")]
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert len(session_client(root).get(f"{API}/projects/").json()["results"]) == 2
    staff = UserFactory(username="staffer", is_staff=True)
    assert session_client(staff).get(f"{API}/projects/").json()["results"] == []


def test_project_detail_counts_items_by_status(project, bob):
    items = make_items(project, 5)
    Item.objects.filter(pk__in=[items[0].pk, items[1].pk]).update(status=ItemStatus.LABELED)
    body = session_client(bob).get(f"{API}/projects/{project.pk}/").json()
    assert body["my_role"] == "rater"
    assert body["item_counts"]["total"] == 5
    assert (body["item_counts"]["open"], body["item_counts"]["labeled"]) == (3, 2)
    assert [label["value"] for label in body["labels"]] == ["positive", "negative", "neutral"]


def test_lead_changes_settings_and_rater_cannot(project, alice, bob):
    url = f"{API}/projects/{project.pk}/"
    response = session_client(alice).patch(url, {"raters_per_item": 5}, format="json")
    assert response.status_code == 200 and response.json()["raters_per_item"] == 5
    assert_error(
        session_client(bob).patch(url, {"raters_per_item": 1}, format="json"),
        403,
        message="Only a lead",
    )
    assert_error(session_client(alice).patch(url, {"raters_per_item": 0}, format="json"), 400)
    project.refresh_from_db()
    assert project.raters_per_item == 5


def test_lead_deletes_a_project(project, alice):
    make_items(project, 2)
    response = session_client(alice).delete(f"{API}/projects/{project.pk}/")
    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Item.objects.exists()


# --- members -----------------------------------------------------------------------------------


def test_lead_adds_members_by_username_or_id_and_changes_roles(project, alice, bob):
    dave, erin = UserFactory(username="dave"), UserFactory(username="erin")
    api, url = session_client(alice), f"{API}/projects/{project.pk}/members/"
    response = api.post(url, {"username": "dave"}, format="json")
    assert response.status_code == 201
    assert (response.json()["user"]["username"], response.json()["role"]) == ("dave", "rater")
    response = api.post(url, {"user_id": erin.pk, "role": "lead"}, format="json")
    assert response.json()["role"] == "lead"
    membership_id = Membership.objects.get(project=project, user=dave).pk
    response = api.patch(f"{url}{membership_id}/", {"role": "lead"}, format="json")
    assert response.json()["role"] == "lead"
    roles = {m["user"]["username"]: m["role"] for m in api.get(url).json()["results"]}
    assert roles == {"alice": "lead", "bob": "rater", "carol": "rater", "dave": "lead",
                     "erin": "lead"}  # fmt: skip
    # bob can read the member list but not change it
    assert session_client(bob).get(url).status_code == 200
    assert_error(session_client(bob).post(url, {"username": "mallory"}, format="json"), 403)


def test_adding_an_unknown_user_or_removing_the_last_lead_is_a_400(project, alice):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/members/"
    assert_error(api.post(url, {"username": "nobody"}, format="json"), 400, message="nobody")
    assert_error(api.post(url, {}, format="json"), 400, message="username or user_id")
    lead = Membership.objects.get(project=project, user=alice)
    assert_error(api.delete(f"{url}{lead.pk}/"), 400, message="at least one lead")
    assert_error(
        api.patch(f"{url}{lead.pk}/", {"role": "rater"}, format="json"),
        400,
        message="at least one lead",
    )
    bobs = Membership.objects.get(project=project, user__username="bob")
    assert api.delete(f"{url}{bobs.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=bobs.pk).exists()


# --- labels ------------------------------------------------------------------------------------


def test_lead_replaces_the_label_schema_keeping_ids_by_value(project, alice):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/labels/"
    before = {label["value"]: label["id"] for label in api.get(url).json()["results"]}
    response = api.put(
        url,
        [
            {"value": "negative", "display_name": "Bad", "hotkey": "1"},
            {"value": "positive", "display_name": "Good", "hotkey": "2"},
            {"value": "mixed", "hotkey": "3"},
        ],
        format="json",
    )
    assert response.status_code == 200, response.content
    after = response.json()
    assert [(lb["value"], lb["hotkey"], lb["position"]) for lb in after] == [
        ("negative", "1", 0),
        ("positive", "2", 1),
        ("mixed", "3", 2),
    ]
    assert after[0]["id"] == before["negative"] and after[1]["id"] == before["positive"]
    assert list(project.labels.values_list("value", flat=True)) == ["negative", "positive", "mixed"]


def test_a_bad_schema_is_rejected_whole(project, alice):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/labels/"
    response = api.put(
        url, [{"value": "a", "hotkey": "1"}, {"value": "b", "hotkey": "1"}], format="json"
    )
    assert_error(response, 400, message="hotkey '1' is used twice")
    assert_error(api.put(url, {"value": "a"}, format="json"), 400, message="JSON list")
    assert project.labels.count() == 3


def test_lead_adds_edits_moves_and_removes_single_labels(project, alice):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/labels/"
    created = api.post(url, {"value": "mixed", "hotkey": "4"}, format="json")
    assert created.status_code == 201 and created.json()["position"] == 3
    label_id = created.json()["id"]
    moved = api.patch(f"{url}{label_id}/", {"position": 0, "color": "#123456"}, format="json")
    assert (moved.json()["position"], moved.json()["color"]) == (0, "#123456")
    assert moved.json()["id"] == label_id
    assert_error(
        api.patch(f"{url}{label_id}/", {"value": "renamed"}, format="json"),
        400,
        message="cannot change",
    )
    assert_error(api.patch(f"{url}{label_id}/", {"hotkey": "1"}, format="json"), 400)
    assert api.delete(f"{url}{label_id}/").status_code == 204
    listed = api.get(url).json()
    assert [lb["value"] for lb in listed["results"]] == ["positive", "negative", "neutral"]
    assert listed["next"] is None


# --- items -------------------------------------------------------------------------------------


@pytest.fixture
def items(project: Project) -> list[Item]:
    items = make_items(project, 12)
    Item.objects.filter(pk__in=[i.pk for i in items[:3]]).update(status=ItemStatus.LABELED)
    Item.objects.filter(pk=items[3].pk).update(status=ItemStatus.CONFLICT)
    Item.objects.filter(pk=items[4].pk).update(is_gold=True, gold_value="positive")
    Item.objects.filter(pk=items[5].pk).update(text="A truly SPLENDID day")
    Item.objects.filter(pk=items[6].pk).update(created_at=timezone.now() - timedelta(days=10))
    return items


def item_keys(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["key"] for item in response.json()["results"]}


def test_items_filters(project, items, alice):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/items/"
    assert len(item_keys(api.get(url))) == 12
    assert item_keys(api.get(url, {"status": "labeled"})) == {"item-0", "item-1", "item-2"}
    assert item_keys(api.get(url, {"status": "labeled,conflict"})) == {
        "item-0", "item-1", "item-2", "item-3"
    }  # fmt: skip
    assert item_keys(api.get(url, {"key": "item-7"})) == {"item-7"}
    assert item_keys(api.get(url, {"key__in": "item-7,item-8,nope"})) == {"item-7", "item-8"}
    assert item_keys(api.get(url, {"is_gold": "true"})) == {"item-4"}
    assert item_keys(api.get(url, {"search": "splendid"})) == {"item-5"}
    assert item_keys(api.get(url, {"has_image": "true"})) == set()
    assert len(item_keys(api.get(url, {"has_image": "false"}))) == 12
    cutoff = (timezone.now() - timedelta(days=1)).isoformat()
    assert item_keys(api.get(url, {"created_before": cutoff})) == {"item-6"}
    assert len(item_keys(api.get(url, {"created_after": cutoff}))) == 11
    error = assert_error(api.get(url, {"status": "sleeping"}), 400, message="status")
    assert "status" in error["fields"]
    assert_error(api.get(url, {"created_after": "yesterday"}), 400, message="created_after")


def test_items_cursor_pagination_walks_every_item_once_newest_first(project, alice):
    make_items(project, 25)
    api = session_client(alice)
    url: str | None = f"{API}/projects/{project.pk}/items/?page_size=10"
    seen: list[int] = []
    pages = 0
    while url:
        body = api.get(url).json()
        seen += [item["id"] for item in body["results"]]
        url, pages = body["next"], pages + 1
        # items imported meanwhile do not shift the pages already walked
        make_items(project, 1, prefix=f"late{pages}")
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25 and seen == sorted(seen, reverse=True)
    assert_error(api.get(f"{API}/projects/{project.pk}/items/?cursor=garbage"), 400)


def test_gold_answers_are_hidden_from_raters(project, items, alice, bob):
    gold = items[4]
    for path in ("items/", f"items/{gold.pk}/"):
        body = session_client(bob).get(f"{API}/projects/{project.pk}/{path}").json()
        for item in body.get("results", [body]):
            assert "gold_value" not in item and "is_gold" not in item
    assert_error(
        session_client(bob).get(f"{API}/projects/{project.pk}/items/", {"is_gold": "true"}),
        403,
        message="is_gold",
    )
    body = session_client(alice).get(f"{API}/projects/{project.pk}/items/{gold.pk}/").json()
    assert (body["is_gold"], body["gold_value"]) == (True, "positive")


def test_lead_sets_priority_and_gold_answer(project, items, alice, bob):
    url = f"{API}/projects/{project.pk}/items/{items[7].pk}/"
    api = session_client(alice)
    response = api.patch(url, {"priority": 3.5, "gold_value": "negative", "is_gold": True},
                         format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert (response.json()["priority"], response.json()["gold_value"]) == (3.5, "negative")
    assert_error(api.patch(url, {"gold_value": "purple"}, format="json"), 400, message="purple")
    assert_error(api.patch(url, {"gold_value": None}, format="json"), 400, message="gold_value")
    assert_error(session_client(bob).patch(url, {"priority": 9}, format="json"), 403)
    assert_error(api.put(url, {"priority": 1}, format="json"), 405, message="PUT")
    item = Item.objects.get(pk=items[7].pk)
    assert (item.priority, item.is_gold, item.gold_value) == (3.5, True, "negative")


def test_a_pipeline_downloads_an_items_image_with_its_token(project, items, alice, bob):
    buffer = io.BytesIO()
    Image.new("RGB", (600, 400), (10, 120, 200)).save(buffer, format="PNG")
    item = items[0]
    item.image = image_store(data=buffer.getvalue(), name="blue.png")
    item.save(update_fields=["image"])
    pipeline = token_client(alice)
    body = pipeline.get(f"{API}/projects/{project.pk}/items/{item.pk}/").json()
    assert (body["image"]["width"], body["image"]["height"]) == (600, 400)
    response = pipeline.get(body["image_url"], HTTP_ACCEPT="image/*")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == buffer.getvalue()
    again = pipeline.get(body["image_url"], HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    thumbnail = session_client(bob).get(body["thumbnail_url"])
    assert thumbnail.status_code == 200
    with Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))) as image:
        assert max(image.size) <= 256
    no_image = pipeline.get(f"{API}/projects/{project.pk}/items/{items[1].pk}/image/",
                            HTTP_ACCEPT="image/png")  # fmt: skip
    assert_error(no_image, 404, message="has no image")
    assert body["image_url"] and items[1].image_id is None


@pytest.mark.parametrize("auth", ["session", "token"])
def test_item_list_query_count_does_not_grow_with_the_page(
    project, alice, auth, django_assert_max_num_queries
):
    make_items(project, 150)
    api = session_client(alice) if auth == "session" else token_client(alice)
    url = f"{API}/projects/{project.pk}/items/?status=open&page_size=100"
    api.get(url)  # a token's first use records last_used_at once; measure the steady state
    # session (2, or token 1), the caller's role, the page of items with their images
    with django_assert_max_num_queries(4):
        response = api.get(url)
    assert len(response.json()["results"]) == 100


def test_project_list_and_detail_query_counts_are_fixed(
    project, alice, django_assert_max_num_queries
):
    for n in range(6):
        make_project(lead=alice, name=f"Project {n}")
    api = session_client(alice)
    # session (2), the projects with the caller's role, their labels
    with django_assert_max_num_queries(4):
        assert len(api.get(f"{API}/projects/").json()["results"]) == 7
    # ... and the items counted by status
    with django_assert_max_num_queries(5):
        assert len(api.get(f"{API}/projects/{project.pk}/").json()["labels"]) == 3


# --- import jobs -------------------------------------------------------------------------------


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def test_lead_imports_a_file_and_polls_the_job(project, alice, django_capture_on_commit_callbacks):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/imports/"
    csv = b"key,text\na,The soup was cold.\nb,Lovely staff.\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"file": upload("reviews.csv", csv)}, format="multipart")
    assert response.status_code == 201, response.content
    job = response.json()
    assert (job["original_name"], job["source"], job["created_by"]) == ("reviews.csv", "api",
                                                                         "alice")  # fmt: skip
    polled = api.get(f"{url}{job['id']}/").json()
    assert (polled["status"], polled["created_count"], polled["is_finished"]) == (
        "succeeded", 2, True
    )  # fmt: skip
    assert sorted(project.items.values_list("key", flat=True)) == ["a", "b"]
    assert [j["id"] for j in api.get(url).json()["results"]] == [job["id"]]


def test_a_bad_import_fails_with_errors_and_only_a_failed_job_is_retried(
    project, alice, django_capture_on_commit_callbacks
):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/imports/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            url, {"file": upload("bad.jsonl", b"{nope\n"), "format": "jsonl"}, format="multipart"
        )
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    failed = api.get(f"{url}{job_id}/").json()
    assert failed["status"] == "failed" and failed["error_count"] >= 1
    with django_capture_on_commit_callbacks(execute=False):
        retried = api.post(f"{url}{job_id}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert_error(api.post(f"{url}{job_id}/retry/"), 400, message="only a failed import")


def test_an_import_rejected_before_reading_is_a_400_and_no_job(project, alice):
    api, url = session_client(alice), f"{API}/projects/{project.pk}/imports/"

    def post(data: dict[str, Any]) -> Any:
        return api.post(url, data, format="multipart")

    assert_error(post({"file": upload("empty.csv", b"")}), 400, message="empty")
    assert_error(post({"file": upload("photos.zip", b"PK\x03\x04")}), 400, message="labels text")
    assert_error(post({"file": upload("a.csv", b"key\n"), "format": "xml"}), 400, message="format")
    assert not ImportJob.objects.exists()


# --- tokens and the caller ---------------------------------------------------------------------


def test_token_create_use_and_revoke(project, alice):
    api = session_client(alice)
    response = api.post(f"{API}/tokens/", {"name": "nightly export"}, format="json")
    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("acc_") and secret.startswith(created["prefix"])
    listed = api.get(f"{API}/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["nightly export"]
    assert "secret" not in listed[0] and secret not in str(listed)
    assert secret not in str(ApiToken.objects.values())

    pipeline = secret_client(secret)
    me = pipeline.get(f"{API}/me/").json()
    assert (me["username"], me["auth"]) == ("alice", "token")
    assert me["memberships"] == [
        {"project": project.pk, "project_name": project.name, "role": "lead"}
    ]
    assert pipeline.get(f"{API}/projects/{project.pk}/items/").status_code == 200
    assert_error(
        pipeline.post(f"{API}/tokens/", {"name": "another"}, format="json"),
        403,
        message="a token cannot create tokens",
    )

    assert api.delete(f"{API}/tokens/{created['id']}/").status_code == 204
    response = pipeline.get(f"{API}/projects/{project.pk}/items/")
    assert_error(response, 401, message="revoked")
    assert response["WWW-Authenticate"] == "Token"
    assert api.get(f"{API}/tokens/").json()["results"][0]["is_active"] is False


def test_tokens_are_private_to_their_owner(alice, bob):
    token, _ = ApiToken.objects.get_or_create(user=alice, name="t", prefix="acc_x", key_hash="h")
    assert_error(session_client(bob).get(f"{API}/tokens/{token.pk}/"), 404)
    assert_error(session_client(bob).post(f"{API}/tokens/{token.pk}/revoke/"), 404)
    assert session_client(bob).get(f"{API}/tokens/").json()["results"] == []
    response = session_client(alice).post(f"{API}/tokens/{token.pk}/revoke/")
    assert response.status_code == 200 and response.json()["revoked_at"]


def test_a_bad_authorization_header_is_a_401_json(project):
    assert_error(secret_client("acc_not-a-token").get(f"{API}/me/"), 401, message="Unknown")
    assert_error(session_client(None).get(f"{API}/me/"), 401, message="credentials")


# --- errors ------------------------------------------------------------------------------------


def test_every_error_is_json_with_a_message(project, alice, mallory):
    api = session_client(alice)
    assert_error(api.get(f"{API}/projects/999999/"), 404)
    assert_error(api.get(f"{API}/projects/999999/items/"), 404, message="not a member")
    assert_error(session_client(mallory).get(f"{API}/projects/{project.pk}/"), 404)
    assert_error(api.get(f"{API}/no-such-thing/"), 404, message="No API endpoint")
    assert_error(api.get(f"{API}/projects"), 404, message="end with a slash")
    assert_error(api.delete(f"{API}/me/"), 405, message="DELETE")
    response = api.post(f"{API}/projects/", "{not json", content_type="application/json")
    assert_error(response, 400, message="JSON parse error")
    error = assert_error(api.post(f"{API}/projects/", {}, format="json"), 400, message="name")
    assert error["fields"] == {"name": ["This field is required."]}
    response = api.post(f"{API}/projects/{project.pk}/imports/", {"x": 1}, format="multipart")
    assert_error(response, 400, message="file")
    response = api.post(f"{API}/projects/{project.pk}/imports/", {"x": 1}, format="json")
    assert_error(response, 415, message="application/json")


def test_an_unexpected_failure_is_a_json_500(alice, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("projects.api.views.tokens.MeView.get", broken)
    api = session_client(alice)
    api.raise_request_exception = False
    response = api.get(f"{API}/me/")
    assert_error(response, 500, message="Internal server error")
    assert "boom" not in response.content.decode()


# --- schema and docs ---------------------------------------------------------------------------


def test_schema_is_openapi_3_with_every_endpoint(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {
        "/api/v1/me/",
        "/api/v1/projects/",
        "/api/v1/projects/{id}/",
        "/api/v1/projects/{project_pk}/members/",
        "/api/v1/projects/{project_pk}/members/{id}/",
        "/api/v1/projects/{project_pk}/labels/",
        "/api/v1/projects/{project_pk}/labels/{id}/",
        "/api/v1/projects/{project_pk}/items/",
        "/api/v1/projects/{project_pk}/items/{id}/",
        "/api/v1/projects/{project_pk}/imports/",
        "/api/v1/projects/{project_pk}/imports/{id}/",
        "/api/v1/projects/{project_pk}/imports/{id}/retry/",
        "/api/v1/tokens/",
        "/api/v1/tokens/{id}/",
        "/api/v1/tokens/{id}/revoke/",
    } <= paths
    items = schema["paths"]["/api/v1/projects/{project_pk}/items/"]["get"]
    assert {"status", "key__in", "is_gold", "cursor", "search"} <= {
        p["name"] for p in items["parameters"]
    }
    assert "put" in schema["paths"]["/api/v1/projects/{project_pk}/labels/"]
    assert "ApiToken" in schema["components"]["securitySchemes"]


def test_docs_page_loads_everything_from_this_server(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"https?://", html), "the docs page must not reach the internet"
    refs = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
    assert refs and all(ref.startswith("/static/") for ref in refs), refs
    assert "/api/schema/" in html
