"""Every answer under /api/ that is not a success is JSON in one shape, whatever produced it:
DRF, Django before any view, an input that no check foresaw, or a request that ran too long.

alice leads `project`; bob rates in it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.jobs.models import JobStatus
from core.readers import FileRejected, json_array
from projects.models import LabelKind
from projects.services.imports import import_job_create, import_job_run
from tests.api_clients import session_client, token_client
from tests.factories import make_items, make_project

pytestmark = pytest.mark.django_db

API = "/api/v1"


def assert_json_error(response: Any, status: int, *, message: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response.content
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert message in error["message"], error["message"]
    return error


# --- inputs that used to be 500s ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T00:00:00+19:55",  # beyond PostgreSQL's +-15:59
        "2024-01-01T00:00:00-16:00",
        "0001-01-01T00:00:00+15:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-15:00",  # after year 9999 once in UTC
    ],
)
def test_an_item_date_filter_out_of_range_is_a_400_naming_the_parameter(project, alice, value):
    response = session_client(alice).get(
        f"{API}/projects/{project.pk}/items/", {"created_after": value}
    )
    error = assert_json_error(response, 400, message="created_after")
    assert "created_after" in error["fields"]


def test_an_item_date_filter_within_range_still_filters(project, alice):
    make_items(project, 2)
    api = session_client(alice)
    url = f"{API}/projects/{project.pk}/items/"
    assert len(api.get(url, {"created_after": "2000-01-01T00:00:00+15:59"}).json()["results"]) == 2
    assert api.get(url, {"created_before": "2000-01-01T00:00:00-15:59"}).json()["results"] == []


def test_an_import_job_filter_that_is_not_a_whole_number_is_a_400(project, alice):
    response = session_client(alice).get(
        f"{API}/projects/{project.pk}/items/", {"import_job": "1e999"}
    )
    assert_json_error(response, 400, message="import_job")


@pytest.mark.parametrize("raw", ["1e999", "-1e999", "1.5"])
def test_a_rating_submit_that_is_not_a_whole_number_is_a_400_naming_the_value(alice, bob, raw):
    project = make_project(lead=alice, raters=[bob], name="Quality", label_kind=LabelKind.RATING)
    make_items(project, 1)
    api = session_client(bob)
    claimed = api.post(f"{API}/projects/{project.pk}/labeling/claim/", {}, format="json").json()
    item_id = claimed["items"][0]["item"]["id"]
    body = f'{{"value": {raw}, "client_id": "{uuid.uuid4()}"}}'  # 1e999 is JSON's infinity
    response = api.post(
        f"{API}/projects/{project.pk}/labeling/items/{item_id}/submit/",
        body,
        content_type="application/json",
    )
    error = assert_json_error(response, 400, message="must be a whole number")
    assert "value" in error["fields"]


@pytest.mark.parametrize(
    ("name", "content", "location", "value"),
    [
        ("gold.csv", "key,text,gold\na,Fine,4\nb,Odd,1e999\n", "line 3", "1e999"),
        ("gold.csv", "key,text,gold\na,Fine,4\nb,Odd,nan\n", "line 3", "nan"),
        ("gold.jsonl", '{"key": "a", "text": "Fine", "gold": 1e999}\n', "line 1", "Infinity"),
    ],
)
def test_a_rating_gold_of_1e999_or_nan_fails_the_import_naming_row_and_field(
    alice, name, content, location, value
):
    """int() of an infinite float raises OverflowError, of NaN ValueError: either used to fail
    the whole import with no row named."""
    project = make_project(lead=alice, name="Quality", label_kind=LabelKind.RATING)
    job = import_job_create(
        project=project, uploaded_file=ContentFile(content.encode(), name=name),
        created_by=alice, source="api", enqueue=False,
    )  # fmt: skip
    job = import_job_run(job_id=job.pk)
    assert job.status == JobStatus.FAILED
    assert [(e["location"], e["field"], e["value"]) for e in job.errors] == [
        (location, "gold", value)
    ]
    assert "whole number" in job.errors[0]["message"]
    assert not project.items.exists()


# --- a JSON object where an array was expected -------------------------------------------------


def test_a_label_schema_put_of_an_object_says_so_in_one_message(project, alice):
    response = session_client(alice).put(
        f"{API}/projects/{project.pk}/labels/", {"value": "a"}, format="json"
    )
    error = assert_json_error(response, 400)
    assert error["message"] == "Send the whole schema: a JSON list of labels."


def test_a_json_import_of_an_object_says_so_in_one_message():
    with pytest.raises(FileRejected) as caught:
        json_array(SimpleUploadedFile("items.json", b'{"text": "one"}'))
    assert str(caught.value) == "file: expected a JSON array of objects, found an object."


# --- JSON where Django would answer HTML -------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_to_an_unknown_api_path_is_a_json_404_with_a_token_or_a_session(alice, method):
    with_token = getattr(token_client(alice), method)(f"{API}/no-such-thing/", {}, format="json")
    assert_json_error(with_token, 404, message="No API endpoint")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    with_session = getattr(browser, method)(f"{API}/no-such-thing/", "{}", "application/json")
    assert_json_error(with_session, 404, message="No API endpoint")


def test_a_json_body_over_the_limit_is_a_413(project, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = session_client(alice).post(f"{API}/projects/", body, content_type="application/json")
    assert_json_error(response, 413, message="over the limit of 1000 bytes")


def test_an_upload_over_the_limit_is_a_413(project, alice, settings):
    settings.ACCORD_IMPORT_MAX_BYTES = 0  # with the multipart allowance: about 1 MB
    upload = SimpleUploadedFile("items.csv", b"text\n" + b"x" * (2 * 2**20))
    response = session_client(alice).post(
        f"{API}/projects/{project.pk}/imports/", {"file": upload}, format="multipart"
    )
    assert_json_error(response, 413, message="limit for an upload")


def test_a_form_body_over_djangos_limit_is_a_413_json_wherever_django_reads_it(alice, settings):
    """Django raises RequestDataTooBig (a 400 by its rules) when it reads a form body over
    DATA_UPLOAD_MAX_MEMORY_SIZE; under /api/ that is a JSON 413."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.post(f"{API}/no-such-thing/", {"a": "x" * 2000})
    assert response.status_code in (404, 413)  # the catch-all never reads the body
    api = session_client(alice)
    response = api.post(
        f"{API}/projects/", "a=" + "x" * 2000, content_type="application/x-www-form-urlencoded"
    )
    assert_json_error(response, 415)  # JSON only: refused before it is read


def test_form_bodies_are_refused_where_only_json_is_accepted(project, alice):
    response = session_client(alice).post(f"{API}/projects/", {"name": "x"}, format="multipart")
    assert_json_error(response, 415, message="multipart/form-data")
    response = session_client(alice).post(
        f"{API}/projects/{project.pk}/imports/", {"x": 1}, format="json"
    )
    assert_json_error(response, 415, message="application/json")


# --- a request that runs too long --------------------------------------------------------------


def _slow(*args: Any, **kwargs: Any) -> None:
    time.sleep(5)


def test_an_api_request_past_the_deadline_is_a_503_json_with_retry_after(
    alice, settings, monkeypatch
):
    settings.ACCORD_REQUEST_DEADLINE_SECONDS = 0.2
    monkeypatch.setattr("projects.api.views.tokens.MeView.get", _slow)
    started = time.monotonic()
    response = session_client(alice).get(f"{API}/me/")
    assert time.monotonic() - started < 2
    assert_json_error(response, 503, message="longer than 0.2 s")
    assert response["Retry-After"]


def test_a_page_past_the_deadline_is_a_503_and_the_next_request_is_unaffected(
    alice, settings, monkeypatch
):
    settings.ACCORD_REQUEST_DEADLINE_SECONDS = 0.2
    monkeypatch.setattr("overview.views.render", _slow)
    browser = Client()
    browser.force_login(alice)
    response = browser.get("/")
    assert response.status_code == 503 and response["Retry-After"]
    monkeypatch.undo()
    settings.ACCORD_REQUEST_DEADLINE_SECONDS = 0.2
    assert session_client(alice).get(f"{API}/me/").status_code == 200
    time.sleep(0.3)  # the timer was disarmed: no stray alarm lands in the test


def test_a_repeated_query_parameter_is_a_400_naming_it(project, alice):
    response = session_client(alice).get(
        f"{API}/projects/{project.pk}/items/?is_gold=true&is_gold=&status=open"
    )
    error = assert_json_error(response, 400, message="is_gold: Given more than once")
    assert list(error["fields"]) == ["is_gold"]


@pytest.mark.parametrize("value", ["null", "yes", "2"])
def test_a_boolean_filter_takes_true_or_false_only(project, alice, value):
    response = session_client(alice).get(f"{API}/projects/{project.pk}/items/", {"is_gold": value})
    assert_json_error(response, 400, message="is_gold")


@pytest.mark.parametrize("page_size", ["0", "-1", "null", "²"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(project, alice, page_size):
    response = session_client(alice).get(f"{API}/projects/", {"page_size": page_size})
    assert_json_error(response, 400, message="page_size")


def test_options_describes_a_view_without_failing_on_a_list_route(project, alice):
    response = session_client(alice).options(f"{API}/projects/{project.pk}/labels/")
    assert response.status_code == 200 and "actions" not in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": "x", "raters_per_item": "2"}, "raters_per_item"),
        ({"name": "x", "weak_labels_prefill": "true"}, "weak_labels_prefill"),
        ({"name": "x", "gold_rate": "0.5"}, "gold_rate"),
        ({"name": "x", "labels": [{"value": "a", "hotkey": 1}]}, "labels"),
        ({"name": "x", "rater_fields": ["text", 0]}, "rater_fields"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_coerced(alice, body, field):
    response = session_client(alice).post(f"{API}/projects/", body)
    error = assert_json_error(response, 400)
    assert field in error["fields"], error


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("items/", "created_before"),
        ("items/", "import_job"),
        ("items/", "has_image"),
        ("labeling/history/", "limit"),
        ("labeling/history/", "before"),
    ],
)
def test_an_empty_value_of_a_non_text_parameter_is_a_400_naming_it(project, alice, path, parameter):
    response = session_client(alice).get(f"{API}/projects/{project.pk}/{path}?{parameter}=")
    error = assert_json_error(response, 400, message=parameter)
    assert parameter in error["fields"]


@pytest.mark.parametrize(
    ("fields", "named"), [({"format": ""}, "format"), ({"fromat": "csv"}, "fromat")]
)
def test_an_upload_with_an_empty_or_misspelt_option_is_a_400_naming_it(
    project, alice, fields, named
):
    upload = SimpleUploadedFile("items.csv", b"text\nhello\n")
    response = session_client(alice).post(
        f"{API}/projects/{project.pk}/imports/", {"file": upload, **fields}, format="multipart"
    )
    error = assert_json_error(response, 400, message=named)
    assert named in error["fields"]
