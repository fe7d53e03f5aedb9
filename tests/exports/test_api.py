"""The datasets API through the whole Django stack: versions listed, built (202 with Location),
read by id, number and `latest`, their manifests and files, downloads with ETag, 304, ranges and
HEAD, retries, and the diff between two versions, paged.

alice leads `project`; bob rates in it (and sees no dataset); mallory leads another project.
A pipeline calls with a project token of alice's project. Versions are made directly with their
files (tests/exports/factories.py), so that every byte is known.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from core.jobs.models import JobStatus
from exports.models import DatasetFile, DatasetVersion, VersionOutcome
from projects.models import Project, TokenScope
from projects.services.tokens import project_token_create
from tests.api_clients import secret_client, session_client
from tests.exports.factories import SPEC, make_build, make_version, row

pytestmark = pytest.mark.django_db


def base(project: Any) -> str:
    return f"/api/v1/projects/{project.pk}/datasets"


def pipeline(project: Any, alice: Any, scopes: tuple[str, ...] = (TokenScope.DATASETS_READ,)):
    return secret_client(
        project_token_create(project=project, created_by=alice, name="nightly", scopes=scopes)[1]
    )


@pytest.fixture
def v1(project, alice) -> DatasetVersion:
    return make_version(
        project,
        [row("a", "positive"), row("b", "negative"), row("c", "neutral", "test"),
         row("d", "positive")],
        created_by=alice, name="first",
    )  # fmt: skip


@pytest.fixture
def v2(project, alice, v1) -> DatasetVersion:
    return make_version(
        project,
        [row("b", "negative"), row("c", "positive", "test"), row("d", "positive", "validation"),
         row("e", "neutral"), row("f", "negative")],
        created_by=alice, name="second",
        extra_files={"images/0a1b.png": b"\x89PNG not really"},
    )  # fmt: skip


# --- versions ------------------------------------------------------------------------------------


def test_a_lead_lists_versions_newest_first_with_their_links(project, alice, v1, v2):
    failed = make_build(project, status=JobStatus.FAILED, created_by=alice)
    response = session_client(alice).get(f"{base(project)}/versions/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [v["id"] for v in results] == [failed.pk, v2.pk, v1.pk]
    assert [v["label"] for v in results] == [f"build {failed.pk}", "v2", "v1"]
    second = results[1]
    assert second["is_ready"] and second["number"] == 2 and second["parent_label"] == "v1"
    assert second["created_by"] == "alice" and second["row_count"] == 5
    assert second["url"] == f"http://testserver{base(project)}/versions/{v2.pk}/"
    assert second["files_url"].endswith(f"/versions/{v2.pk}/files/")
    assert second["status"] == "succeeded" and second["percent"] == 100
    assert "validation" not in second, "the detail has it"


def test_the_list_filters_by_status(project, alice, v1):
    make_build(project, status=JobStatus.RUNNING)
    make_build(project, status=JobStatus.FAILED)
    client = session_client(alice)
    found = client.get(f"{base(project)}/versions/", {"status": "succeeded,failed"}).json()
    assert sorted(v["status"] for v in found["results"]) == ["failed", "succeeded"]
    refused = client.get(f"{base(project)}/versions/", {"status": "ready"})
    assert refused.status_code == 400
    assert "ready" in refused.json()["error"]["fields"]["status"][0]


def test_a_lead_builds_a_version_and_follows_its_location(project, alice):
    client = session_client(alice)
    response = client.post(
        f"{base(project)}/versions/", {"spec": SPEC, "name": "nightly", "note": "cron"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 202
    version = DatasetVersion.objects.get(project=project)
    assert response["Location"] == f"http://testserver{base(project)}/versions/{version.pk}/"
    assert response.json()["id"] == version.pk and response.json()["name"] == "nightly"
    assert version.created_by == alice and version.note == "cron"
    followed = client.get(response["Location"])
    assert followed.status_code == 200 and followed.json()["id"] == version.pk
    assert set(followed.json()) >= {"status", "phase", "progress", "total", "percent",
                                    "is_stalled", "validation"}  # fmt: skip


def test_a_build_with_a_bad_spec_is_a_400_naming_the_field(project, alice):
    client = session_client(alice)
    response = client.post(
        f"{base(project)}/versions/", {"spec": {"splits": {"train": 0.5}}}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "0.5" in json.dumps(response.json()["error"]["fields"])
    typo = client.post(f"{base(project)}/versions/", {"spec": SPEC, "nmae": "x"}, format="json")
    assert typo.status_code == 400 and "nmae" in typo.json()["error"]["fields"]
    not_an_object = client.post(f"{base(project)}/versions/", {"spec": "all"}, format="json")
    assert not_an_object.status_code == 400
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize("ref", ["pk", "v2", "latest"])
def test_a_version_is_named_by_id_number_or_latest(project, alice, v1, v2, ref):
    make_build(project, status=JobStatus.RUNNING)  # newer, but not ready: not `latest`
    name = str(v2.pk) if ref == "pk" else ref
    response = session_client(alice).get(f"{base(project)}/versions/{name}/")
    assert response.status_code == 200
    assert response.json()["id"] == v2.pk and response.json()["label"] == "v2"
    assert response.json()["validation"] == {"warnings": [], "rows": 5}


def test_names_of_no_version_are_404s(project, alice, mallory, v1):
    client = session_client(alice)
    theirs = make_version(Project.objects.get(name="Mallory's own project"), [row("z", "positive")])
    for name in ("v9", "999999", str(theirs.pk), "v99999999999", "9" * 30):
        response = client.get(f"{base(project)}/versions/{name}/")
        assert response.status_code == 404, name
        assert response.json()["error"]["code"] == "not_found"
    assert client.get(f"{base(project)}/versions/newest/").status_code == 404


def test_latest_is_a_404_before_any_version_is_ready(project, alice):
    make_build(project, status=JobStatus.RUNNING)
    response = session_client(alice).get(f"{base(project)}/versions/latest/")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "This project has no ready dataset version yet."


def test_a_failed_build_is_retried_by_a_lead(project, alice, v1):
    failed = make_build(project, status=JobStatus.FAILED)
    client = session_client(alice)
    response = client.post(f"{base(project)}/versions/{failed.pk}/retry/")
    assert response.status_code == 200 and response.json()["id"] == failed.pk
    assert DatasetVersion.objects.get(pk=failed.pk).status != JobStatus.FAILED
    ready = client.post(f"{base(project)}/versions/{v1.pk}/retry/")
    assert ready.status_code == 400
    assert ready.json()["error"]["code"] == "invalid"


# --- manifests and files -------------------------------------------------------------------------


def test_the_manifest_of_a_ready_version(project, alice, v1):
    response = session_client(alice).get(f"{base(project)}/versions/v1/manifest/")
    assert response.status_code == 200
    assert response.json() == v1.manifest
    stored = DatasetFile.objects.get(version=v1, name="manifest.json")
    with default_storage.open(stored.storage_name) as handle:
        assert json.load(handle) == response.json(), "the same document as manifest.json"


def test_a_version_not_ready_has_no_manifest_or_files(project, alice, v1):
    client = session_client(alice)
    running = make_build(project, status=JobStatus.RUNNING)
    unchanged = DatasetVersion.objects.create(
        project=project, spec=SPEC, spec_hash=v1.spec_hash, status=JobStatus.SUCCEEDED,
        outcome=VersionOutcome.UNCHANGED, parent=v1,
    )  # fmt: skip
    for path in ("manifest/", "files/", "files/data.parquet"):
        response = client.get(f"{base(project)}/versions/{running.pk}/{path}")
        assert response.status_code == 409, path
        assert response.json()["error"] == {
            "code": "version_not_ready",
            "message": f"build {running.pk} is running: it has no manifest or files yet.",
        }
    response = client.get(f"{base(project)}/versions/{unchanged.pk}/manifest/")
    assert response.status_code == 409
    assert "unchanged since v1" in response.json()["error"]["message"]


def test_the_files_of_a_version_with_sizes_hashes_and_urls(project, alice, v2):
    response = session_client(alice).get(f"{base(project)}/versions/latest/files/")
    assert response.status_code == 200
    files = {f["name"]: f for f in response.json()["results"]}
    assert set(files) == {"data.parquet", "data.csv", "images/0a1b.png", "manifest.json"}
    parquet = files["data.parquet"]
    stored = DatasetFile.objects.get(version=v2, name="data.parquet")
    assert (parquet["size"], parquet["sha256"]) == (stored.size, stored.sha256)
    assert parquet["url"] == (
        f"http://testserver{base(project)}/versions/{v2.pk}/files/data.parquet"
    ), "by id, whatever name the list was asked by"


# --- downloads ---------------------------------------------------------------------------------


def download_url(project: Any, ref: Any, name: str = "data.parquet") -> str:
    return f"{base(project)}/versions/{ref}/files/{name}"


def content(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_a_pipeline_downloads_the_parquet_file_and_reads_it(project, alice, v1):
    client = pipeline(project, alice)
    response = client.get(download_url(project, "latest"), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    body = content(response)
    stored = DatasetFile.objects.get(version=v1, name="data.parquet")
    assert response["ETag"] == f'"{stored.sha256}"' == f'"{hashlib.sha256(body).hexdigest()}"'
    assert response["Content-Length"] == str(stored.size) == str(len(body))
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'attachment; filename="data.parquet"'
    assert response["Cache-Control"] == "private, no-cache", "latest moves"
    table = pq.read_table(io.BytesIO(body))
    assert table.column("item_key").to_pylist() == ["a", "b", "c", "d"]


def test_by_id_or_number_a_file_is_cached_as_immutable(project, alice, v1):
    client = session_client(alice)
    for ref in (v1.pk, "v1"):
        response = client.get(download_url(project, ref, "data.csv"))
        assert response["Cache-Control"] == "private, max-age=31536000, immutable"
        assert content(response).startswith(b"item_key,text,label,split\n")


def test_etag_304_range_206_416_and_head(project, alice, v1):
    client = pipeline(project, alice)
    url = download_url(project, "v1")
    stored = DatasetFile.objects.get(version=v1, name="data.parquet")
    with default_storage.open(stored.storage_name) as handle:
        whole = handle.read()
    etag = f'"{stored.sha256}"'

    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    assert client.get(url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200

    tail = client.get(url, HTTP_RANGE="bytes=-8")
    assert tail.status_code == 206
    assert content(tail) == whole[-8:] == b"".join([whole[-8:-4], b"PAR1"])
    assert tail["Content-Range"] == f"bytes {len(whole) - 8}-{len(whole) - 1}/{len(whole)}"
    middle = client.get(url, HTTP_RANGE="bytes=4-103", HTTP_IF_RANGE=etag)
    assert middle.status_code == 206 and content(middle) == whole[4:104]
    stale = client.get(url, HTTP_RANGE="bytes=4-103", HTTP_IF_RANGE='"stale"')
    assert stale.status_code == 200 and content(stale) == whole

    past = client.get(url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(whole)}"
    assert past.json()["error"]["code"] == "range_not_satisfiable"

    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Length"] == str(len(whole)) and head["ETag"] == etag


def test_a_file_in_a_folder_and_files_that_are_not_there(project, alice, v2):
    client = session_client(alice)
    image = client.get(download_url(project, "v2", "images/0a1b.png"))
    assert image.status_code == 200 and content(image) == b"\x89PNG not really"
    missing = client.get(download_url(project, "v2", "images/none.png"))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "v2 has no file named 'images/none.png'."
    stored = DatasetFile.objects.get(version=v2, name="data.csv")
    default_storage.delete(stored.storage_name)
    gone = client.get(download_url(project, "v2", "data.csv"))
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == "The file 'data.csv' is missing from storage."


def test_a_download_takes_three_queries(project, alice, v1, django_assert_num_queries):
    """The credentials with the project and role, the version, the file."""
    client = pipeline(project, alice)
    client.get(download_url(project, "latest"))  # the token's first use is stamped once
    with django_assert_num_queries(3):
        response = client.get(download_url(project, "latest"), HTTP_RANGE="bytes=0-3")
    assert response.status_code == 206


# --- who may ------------------------------------------------------------------------------------


def test_a_rater_sees_no_dataset(project, bob, v1):
    client = session_client(bob)
    for path in ("versions/", f"versions/{v1.pk}/", "versions/v1/files/data.parquet",
                 "diff/?from=v1&to=v1"):  # fmt: skip
        response = client.get(f"{base(project)}/{path}")
        assert response.status_code == 403, path
    build = client.post(f"{base(project)}/versions/", {"spec": SPEC}, format="json")
    assert build.status_code == 403


def test_a_token_needs_datasets_read_and_can_only_read(project, alice, v1):
    items_only = pipeline(project, alice, scopes=(TokenScope.ITEMS_READ,))
    response = items_only.get(f"{base(project)}/versions/")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "This project token lacks the scope 'datasets:read'."
    )
    datasets_only = pipeline(project, alice)
    assert datasets_only.get(f"/api/v1/projects/{project.pk}/items/").status_code == 403
    assert datasets_only.get(f"{base(project)}/versions/").status_code == 200
    assert datasets_only.head(download_url(project, "v1")).status_code == 200
    assert datasets_only.post(f"{base(project)}/versions/", {"spec": SPEC},
                              format="json").status_code == 403  # fmt: skip
    assert datasets_only.post(f"{base(project)}/versions/{v1.pk}/retry/").status_code == 403


# --- the diff -------------------------------------------------------------------------------------


def test_the_diff_between_two_versions(project, alice, v1, v2):
    client = pipeline(project, alice)
    response = client.get(f"{base(project)}/diff/", {"from": "v1", "to": "latest"})
    assert response.status_code == 200
    diff = response.json()
    assert diff["from"] == {"id": v1.pk, "number": 1, "label": "v1"}
    assert diff["to"]["label"] == "v2"
    # a removed; b unchanged; c neutral -> positive; d moved to validation; e and f added.
    assert diff["counts"] == {"added": 2, "removed": 1, "relabeled": 1, "changed": 1,
                              "unchanged": 1}  # fmt: skip
    assert diff["transitions"] == [{"source": "neutral", "target": "positive", "count": 1}]
    assert diff["split_moves"] == [{"source": "train", "target": "validation", "count": 1}]
    assert [r["item_key"] for r in diff["added"]["results"]] == ["e", "f"]
    assert diff["removed"]["results"] == [{"item_key": "a", "from_label": "positive",
                                           "to_label": None, "from_split": "train",
                                           "to_split": None}]  # fmt: skip
    assert diff["relabeled"]["results"][0]["to_label"] == "positive"
    assert diff["changed"]["results"][0]["to_split"] == "validation"
    assert all(diff[kind]["next"] is None for kind in ("added", "removed", "relabeled", "changed"))


def test_a_diff_pages_each_kind_by_cursor(project, alice):
    make_version(project, [row(f"k{n:03d}", "positive") for n in range(25)])
    make_version(project, [row(f"k{n:03d}", "negative") for n in range(25)])
    client = session_client(alice)
    first = client.get(f"{base(project)}/diff/", {"from": "v1", "to": "v2", "page_size": 10})
    page = first.json()["relabeled"]
    keys = [r["item_key"] for r in page["results"]]
    assert page["count"] == 25 and len(keys) == 10
    pages = 1
    while page["next"]:
        page = client.get(page["next"]).json()
        assert page["kind"] == "relabeled"
        keys += [r["item_key"] for r in page["results"]]
        pages += 1
    assert keys == [f"k{n:03d}" for n in range(25)] and pages == 3


def test_a_bad_diff_request_says_what_is_wrong(project, alice, v1):
    client = session_client(alice)
    running = make_build(project, status=JobStatus.RUNNING)

    def error(params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = client.get(f"{base(project)}/diff/", params)
        return response.status_code, response.json()["error"]

    assert error({"to": "v1"})[0] == 400
    assert error({"from": "v1", "to": "v7"}) == (
        404,
        {"code": "not_found", "message": "This project has no dataset version v7."},
    )
    assert error({"from": "v1", "to": "tomorrow"})[0] == 404
    assert error({"from": "v1", "to": str(running.pk)})[1]["code"] == "version_not_ready"
    assert error({"from": "v1", "to": "v1", "kind": "moved"})[0] == 400
    status, body = error({"from": "v1", "to": "v1", "kind": "added", "cursor": "%%%"})
    assert status == 400 and "cursor" in body["fields"]
    status, body = error({"from": "v1", "to": "v1", "cursor": "YQ"})
    assert status == 400 and "kind" in body["fields"]["cursor"][0]
    assert error({"from": "v1", "to": "v1", "page_size": "0"})[0] == 400


def test_routes_are_named_as_the_api_reverses_them(project, v1):
    assert reverse(
        "api-dataset-file",
        kwargs={"project_pk": project.pk, "version": "latest", "name": "images/x.png"},
    ) == download_url(project, "latest", "images/x.png")
