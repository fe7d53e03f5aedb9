"""The OpenAPI schema tells the truth about what the API answers, and the API is consistent with
itself: pages, errors, image links and caching.

alice leads `project`; bob rates in it.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from projects.models import Item, Role
from projects.services.images import image_store
from tests.api_clients import session_client, token_client
from tests.factories import make_items

pytestmark = pytest.mark.django_db

API = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


# --- errors in the schema ----------------------------------------------------------------------


def test_every_operation_documents_its_errors_in_the_one_error_shape(schema):
    error_ref = "#/components/schemas/Error"
    assert component(schema, "ErrorDetail")["required"] == ["code", "message"]
    for method, path, operation in operations(schema):
        responses = operation["responses"]
        expected = {"401", "429"}
        if method != "get" or any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        if "{" in path:
            expected.add("404")
        if method != "get" and path.startswith(f"{API}/projects/{{"):
            expected.add("409")
        if "requestBody" in operation:
            expected |= {"413", "415"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for code, response in responses.items():
            if code == "414":
                assert "content" not in response, "gunicorn's answer, not JSON"
            elif code >= "400":
                content = response["content"]["application/json"]["schema"]
                assert content == {"$ref": error_ref}, (method, path, code)
        assert "Retry-After" in responses["429"]["headers"]


def test_labeling_writes_document_their_conflicts_and_submit_its_201(schema):
    labeling = f"{API}/projects/{{project_pk}}/labeling/items/{{item_pk}}"
    submit = schema["paths"][f"{labeling}/submit/"]["post"]["responses"]
    assert {"200", "201", "409"} <= set(submit)
    assert submit["201"]["content"] == submit["200"]["content"]
    for action in ("skip", "renew"):
        assert "409" in schema["paths"][f"{labeling}/{action}/"]["post"]["responses"]


def test_json_only_bodies_are_not_advertised_as_forms_and_only_the_upload_is_multipart(schema):
    for method, path, operation in operations(schema):
        if "requestBody" not in operation:
            continue
        media_types = set(operation["requestBody"]["content"])
        if path.endswith("/imports/") and method == "post":
            assert media_types == {"multipart/form-data"}
        else:
            assert media_types == {"application/json"}, (method, path, media_types)


def test_json_bodies_are_refused_as_forms(project, alice):
    response = session_client(alice).patch(
        f"{API}/projects/{project.pk}/", {"name": "x"}, format="multipart"
    )
    assert response.status_code == 415


# --- responses match their schema --------------------------------------------------------------


def test_history_answers_the_object_its_schema_describes(schema, project, bob):
    make_items(project, 1)
    api = session_client(bob)
    base = f"{API}/projects/{project.pk}/labeling"
    item_id = api.post(f"{base}/claim/", {}).json()["items"][0]["item"]["id"]
    body = {"value": "positive", "client_id": str(uuid.uuid4())}
    assert api.post(f"{base}/items/{item_id}/submit/", body).status_code == 201
    history = api.get(f"{base}/history/").json()
    operation = schema["paths"][f"{API}/projects/{{project_pk}}/labeling/history/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    described = component(schema, ref.rsplit("/", 1)[1])
    assert described["required"] == ["items"] and set(history) == {"items"}
    assert described["properties"]["items"]["type"] == "array"
    assert history["items"][0]["value"] == "positive"


def test_an_item_has_every_field_its_schema_requires_for_raters_and_leads(
    schema, project, alice, bob
):
    make_items(project, 2)
    item_path = f"{API}/projects/{{project_pk}}/items/{{id}}/"
    ref = schema["paths"][item_path]["get"]["responses"]["200"]["content"]["application/json"]
    described = component(schema, ref["schema"]["$ref"].rsplit("/", 1)[1])
    required, known = set(described["required"]), set(described["properties"])
    for user, lead in ((bob, False), (alice, True)):
        listed = session_client(user).get(f"{API}/projects/{project.pk}/items/").json()["results"]
        for item in listed:
            assert required <= set(item) <= known, (user, set(item) ^ known)
            assert ("gold_value" in item) is lead


def test_project_detail_answers_exactly_the_fields_of_its_schema(schema, project, alice):
    operation = schema["paths"][f"{API}/projects/{{id}}/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    described = component(schema, ref.rsplit("/", 1)[1])
    body = session_client(alice).get(f"{API}/projects/{project.pk}/").json()
    assert set(body) == set(described["properties"]) == set(described["required"])


def test_a_member_patch_is_partial(schema, project, alice, bob):
    url = f"{API}/projects/{project.pk}/members/{project.memberships.get(user=bob).pk}/"
    api = session_client(alice)
    unchanged = api.patch(url, {})
    assert unchanged.status_code == 200 and unchanged.json()["role"] == Role.RATER
    assert api.patch(url, {"role": Role.LEAD}).json()["role"] == Role.LEAD
    assert api.put(url, {}).status_code == 400, "PUT still needs the role"
    patch = schema["paths"][f"{API}/projects/{{project_pk}}/members/{{id}}/"]["patch"]
    ref = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "required" not in component(schema, ref.rsplit("/", 1)[1])


# --- lists, cursors, image links and caching ----------------------------------------------------


def test_labels_and_tokens_are_cursor_pages_like_every_list(project, alice):
    api = session_client(alice)
    token_client(alice, name="one")
    token_client(alice, name="two")
    labels = api.get(f"{API}/projects/{project.pk}/labels/", {"page_size": 2}).json()
    assert [label["value"] for label in labels["results"]] == ["positive", "negative"]
    rest = api.get(labels["next"]).json()
    assert [label["value"] for label in rest["results"]] == ["neutral"] and rest["next"] is None
    tokens = api.get(f"{API}/tokens/", {"page_size": 1}).json()
    assert [t["name"] for t in tokens["results"]] == ["two"]
    assert [t["name"] for t in api.get(tokens["next"]).json()["results"]] == ["one"]


@pytest.mark.parametrize("cursor", ["garbage", "cD1hYmM="])  # the second: "p=abc"
def test_a_bad_cursor_is_a_400_naming_it(project, alice, cursor):
    response = session_client(alice).get(f"{API}/projects/{project.pk}/items/", {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["fields"]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def image_item(project: Any) -> Item:
    blob = image_store(data=png(), name="red.png")
    return Item.objects.create(
        project=project, key="img", image=blob, content_hash=blob.sha256, shuffle_key=1
    )


def test_the_labeling_image_url_is_the_api_route_a_token_client_can_fetch(project, image_item, bob):
    pipeline = token_client(bob)
    claimed = pipeline.post(f"{API}/projects/{project.pk}/labeling/claim/", {}).json()
    item = claimed["items"][0]["item"]
    assert item["image_url"] == f"{API}/projects/{project.pk}/items/{image_item.pk}/image/"
    assert item["thumbnail_url"].endswith(f"/items/{image_item.pk}/thumbnail/")
    response = pipeline.get(item["image_url"])
    assert response.status_code == 200 and b"".join(response.streaming_content) == png()
    browser = Client()
    browser.force_login(bob)
    assert browser.get(item["image_url"]).status_code == 200, "the page's session works too"


@pytest.mark.parametrize("route", ["page", "api"])
def test_image_if_none_match_honours_weak_tags_lists_and_star(project, image_item, alice, route):
    browser = Client()
    browser.force_login(alice)
    url = (
        reverse("item-image", args=[image_item.pk])
        if route == "page"
        else f"{API}/projects/{project.pk}/items/{image_item.pk}/image/"
    )
    etag = browser.get(url)["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', f'W/"other", W/{etag}', "*"):
        response = browser.get(url, HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, header
        assert response["ETag"] == etag
    assert browser.get(url, HTTP_IF_NONE_MATCH='"other", W/"else"').status_code == 200
