"""Welinder et al. (2010) bluebirds, end to end through the API: alice imports the 108 items and
the 4,212 crowd labels of 39 workers (who become external raters), recomputes agreement, and
reads each item's consensus back; against the gold answers, majority vote is right on about
three images in four and Dawid-Skene on nearly nine in ten (Welinder et al. report the same
gap; tests/data/crowd/README.md gives the data's source and licence)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agreement.models import AgreementRecompute
from core.jobs.models import JobStatus
from tests.api_clients import token_client
from tests.factories import make_project

DATA = Path(__file__).resolve().parent.parent / "data" / "crowd"
API = "/api/v1"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def upload(name: str, rows: list[list[str]]) -> SimpleUploadedFile:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return SimpleUploadedFile(name, text.getvalue().encode(), content_type="text/csv")


def consensus_by_key(api: Any, project_id: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    url: str | None = f"{API}/projects/{project_id}/agreement/items/?page_size=100"
    while url:
        page = api.get(url)
        assert page.status_code == 200, page.content
        body = page.json()
        for row in body["results"]:
            found[row["item"]["key"]] = row["consensus"]
        url = body["next"]
    return found


def recompute(api: Any, project_id: int, captured: Any) -> None:
    with captured(execute=True):  # the task runs in-process, once the request commits
        response = api.post(f"{API}/projects/{project_id}/agreement/recomputes/", {}, format="json")
    assert response.status_code == 202, response.content
    job = api.get(response["Location"]).json()
    assert job["status"] == JobStatus.SUCCEEDED, job


def accuracy(consensus: dict[str, Any], gold: dict[str, str]) -> float:
    return sum(consensus.get(key) == answer for key, answer in gold.items()) / len(gold)


def test_dawid_skene_beats_majority_vote_on_the_bluebirds(
    alice, media, django_capture_on_commit_callbacks
):
    with (DATA / "bluebirds_welinder2010_labels.csv").open() as handle:
        labels = list(csv.DictReader(handle))
    with (DATA / "bluebirds_welinder2010_gold.csv").open() as handle:
        gold = {row["image_id"]: row["gold"] for row in csv.DictReader(handle)}
    project = make_project(
        lead=alice, name="Bluebirds", raters_per_item=3,
        labels=[
            {"value": "0", "display_name": "Not this species", "color": "#8a8f98", "hotkey": "0"},
            {"value": "1", "display_name": "Indigo bunting", "color": "#4f6bed", "hotkey": "1"},
        ],
    )  # fmt: skip
    api = token_client(alice)
    captured = django_capture_on_commit_callbacks

    items = [["key", "text"]] + [[key, f"Bluebird photo {key}"] for key in gold]
    with captured(execute=True):
        response = api.post(
            f"{API}/projects/{project.pk}/imports/", {"file": upload("items.csv", items)},
            format="multipart",
        )  # fmt: skip
    assert response.status_code == 201, response.content  # the item import's own answer
    rows = [["item_key", "rater", "value"]] + [
        [row["image_id"], f"worker-{row['worker_id']}", row["label"]] for row in labels
    ]
    with captured(execute=True):
        response = api.post(
            f"{API}/projects/{project.pk}/annotations/imports/",
            {"file": upload("bluebirds.csv", rows)}, format="multipart",
        )  # fmt: skip
    assert response.status_code == 202, response.content
    job = api.get(response["Location"]).json()
    assert job["status"] == JobStatus.SUCCEEDED, job
    assert project.memberships.filter(is_external=True).count() == 39
    assert project.annotations.count() == 4212

    recompute(api, project.pk, captured)
    majority = accuracy(consensus_by_key(api, project.pk), gold)

    with captured(execute=True):  # a new rule starts a recompute, run once the change commits
        response = api.patch(
            f"{API}/projects/{project.pk}/", {"agreement_rule": "dawid_skene"}, format="json"
        )
    assert response.status_code == 200, response.content
    jobs = AgreementRecompute.objects.filter(project=project).values_list("status", flat=True)
    assert list(jobs) == [JobStatus.SUCCEEDED] * 2
    dawid_skene = accuracy(consensus_by_key(api, project.pk), gold)

    assert majority == pytest.approx(0.76, abs=0.02)  # 82 of 108
    assert dawid_skene >= 0.88  # 97 of 108
