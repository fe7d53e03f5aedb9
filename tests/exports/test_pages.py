"""The dataset pages without a browser: what a lead reads on the versions page, a version's page
and the diff page for versions built through the real services (tests/exports/conftest.py), what
the build form refuses, and a failed build retried. (tests/browser/test_dataset_pages.py drives
them in Chromium; tests/test_page_permissions.py says who may open them.)

alice leads `project` (two raters per item); bob and carol rate in it and disagree on some items.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from core.jobs.models import JobStatus
from exports.models import DatasetVersion
from labeling.services import annotation_submit
from projects.models import Item
from tests.exports.conftest import build, label_all, resolve_conflicts
from tests.factories import make_items

pytestmark = pytest.mark.django_db


def lead(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def text(response: Any) -> str:
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def bob_and_carol_disagree_on_every_third(item: Any, rater: Any) -> str:
    number = int(item.key.rsplit("-", 1)[1])
    if number % 3 == 0 and rater.username == "carol":
        return "negative"
    return "positive"


@pytest.fixture
def labeled(project, bob, carol):
    make_items(project, 12, prefix="review")
    label_all(project, [bob, carol], bob_and_carol_disagree_on_every_third)
    return project


def datasets_url(project: Any) -> str:
    return f"/projects/{project.pk}/datasets/"


def test_the_versions_page_is_empty_with_a_default_form_then_lists_builds_newest_first(
    labeled, alice
):
    client = lead(alice)
    empty = text(client.get(datasets_url(labeled)))
    assert "No dataset version yet" in empty
    assert 'aria-current="page">Datasets</a>' in empty
    for name, ratio in (("train", "0.8"), ("validation", "0.1"), ("test", "0.1")):
        assert f'name="split_name" value="{name}"' in empty
        assert f'name="split_ratio" value="{ratio}"' in empty
    assert re.search(r'name="item_fields" value="text" [^>]*checked', empty)

    v1 = build(labeled, alice, name="first cut")
    same = build(labeled, alice)
    assert v1.number == 1 and same.outcome == "unchanged"
    page = text(client.get(datasets_url(labeled)))
    assert page.index(f"build {same.pk}") < page.index(">v1<")
    assert "first cut" in page
    assert "same as <a" in page and f'/datasets/{v1.pk}/">v1</a>' in page
    # 12 items, 4 of them in conflict and left out: 8 rows.
    assert re.search(r'<td class="num">\s*8\s*</td>', page) or "> 8 <" in page
    for split, count in v1.split_counts.items():
        assert f"{split} <b>{count}</b>" in page


def test_a_lead_builds_from_the_form_and_lands_on_the_versions_page(
    labeled, alice, django_capture_on_commit_callbacks
):
    client = lead(alice)
    form = {
        "sources": ["resolution", "gold", "consensus"], "min_confidence": "0",
        "item_fields": ["text"], "split_name": ["train", "test", ""],
        "split_ratio": ["0.75", "0.25", ""],
        "salt": "march", "freeze_test": "on", "formats": ["parquet", "csv"],
        "name": "from the form", "note": "Built by **alice**.",
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(datasets_url(labeled), form)
    version = DatasetVersion.objects.get(project=labeled)
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{labeled.pk}/datasets/{version.pk}/"
    assert version.spec["splits"] == {"train": 0.75, "test": 0.25}
    assert version.spec["salt"] == "march" and version.spec["formats"] == ["parquet", "csv"]
    assert version.is_ready and version.number == 1 and version.name == "from the form"

    page = text(client.get(response["Location"]))
    assert "v1" in page and "from the form" in page and "Built by **alice**." in page
    for name in ("data.parquet", "data.csv", "manifest.json", "README.md", "croissant.json"):
        assert f">{name}</a>" in page
    assert "data.jsonl" not in page
    for file in version.files.all():
        assert file.sha256 in page
    assert f"/api/v1/projects/{labeled.pk}/datasets/versions/latest/files/data.parquet" in page
    assert "pd.read_parquet(" in page and "storage_options=headers" in page
    assert "The first version: there is no parent to compare with." in page
    # The dataset card rendered, its front matter apart; the manifest as JSON.
    assert "<h1>" in page and "pretty_name:" in page
    assert '"sha256": "' in page and version.files.get(name="data.parquet").sha256 in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"split_ratio": ["0.8", "0.1", "0.2"]}, "splits", "add up to 1.1"),
        ({"split_ratio": ["0.8", "a tenth", "0.1"]}, "splits", "not 'a tenth'"),
        ({"split_name": ["train", "Validation", "test"]}, "splits", "cannot name a split"),
        ({"min_confidence": "1.5"}, "min_confidence", "number from 0 to 1"),
        ({"sources": []}, "sources", "needs at least one name"),
        ({"item_fields": []}, "fields", "needs at least one name"),
        ({"split_name": ["train", "validation", "holdout"]}, "freeze_test", "named 'test'"),
        ({"salt": ""}, "salt", "non-empty string"),
    ],
)
def test_the_build_form_shows_each_refusal_beside_its_field(labeled, alice, change, field, message):
    form = {
        "sources": ["consensus"], "min_confidence": "0", "item_fields": ["text"],
        "split_name": ["train", "validation", "test"], "split_ratio": ["0.8", "0.1", "0.1"],
        "salt": "accord", "freeze_test": "on", "formats": ["parquet"], **change,
    }  # fmt: skip
    response = lead(alice).post(datasets_url(labeled), form)
    page = text(response)
    assert not DatasetVersion.objects.exists()
    assert message in page
    # The message sits in the field's own block, after its widget.
    block = page[: page.index(message)]
    marker = {"splits": "<legend>Splits</legend>", "min_confidence": 'name="min_confidence"',
              "sources": "<legend>Label sources</legend>", "fields": "<legend>Item fields</legend>",
              "freeze_test": 'name="freeze_test"', "salt": 'name="salt"'}[field]  # fmt: skip
    assert marker in block
    assert "has-error" in block[block.rindex(marker) - 200 :]
    # What was typed is kept.
    for value in form["split_ratio"]:
        assert f'value="{value}"' in page


def test_a_second_version_shows_its_validation_and_the_diff_its_changes(labeled, alice):
    v1 = build(labeled, alice)
    assert resolve_conflicts(labeled, alice, lambda item: "neutral") == 4
    v2 = build(labeled, alice, name="conflicts resolved")
    assert v2.number == 2 and v2.parent_id == v1.pk
    client = lead(alice)

    page = text(client.get(f"/projects/{labeled.pk}/datasets/{v2.pk}/"))
    assert "Validation against v1" in page
    items = v2.validation["items"]
    assert items["added"] == 4 and items["removed"] == 0
    assert "<b>4</b><span>added</span>" in page
    # "neutral" is new: a warning, and its bar at 0% for v1.
    assert "Labels new since the parent: neutral." in page
    chi = v2.validation["labels"]["chi_square"]
    assert f"{chi['statistic']:.2f}" in page and f"({chi['df']} df)" in page
    tv = v2.validation["labels"]["total_variation"]
    assert f"{tv:.3f}" in page
    assert 'title="v1: 0.0%"' in page and 'title="v2: 33.3%"' in page
    assert "Diff against v1" in page

    diff = text(client.get(f"/projects/{labeled.pk}/datasets/diff/"))
    assert f'<option value="{v1.pk}" selected>v1' in diff
    assert f'<option value="{v2.pk}" selected>v2 · conflicts resolved' in diff
    assert '<b>4</b><span><a href="#added">added</a>' in diff
    assert "No item changed its label." in diff
    for n in (0, 3, 6, 9):
        assert f">review-{n}</td>" in diff

    # The other way round: v2 -> v1 removes the four.
    back = text(client.get(f"/projects/{labeled.pk}/datasets/diff/?from={v2.pk}&to={v1.pk}"))
    assert '<b>4</b><span><a href="#removed">removed</a>' in back


def test_relabeled_items_fill_the_transition_matrix_and_keys_page_by_key(
    project, alice, bob, carol, monkeypatch
):
    from exports.views import datasets

    make_items(project, 8, prefix="review")
    label_all(project, [bob, carol], lambda item, rater: "positive")
    v1 = build(project, alice)
    # Both raters change their minds on three items; three new items come in.
    for item in Item.objects.filter(project=project, key__in=["review-0", "review-1", "review-2"]):
        for rater in (bob, carol):
            annotation_submit(
                project=project, item_id=item.pk, rater=rater, value="negative",
                client_id=uuid.uuid4(),
            )  # fmt: skip
    make_items(project, 3, prefix="late")
    label_all(project, [bob, carol], lambda item, rater: "neutral")
    v2 = build(project, alice)
    monkeypatch.setattr(datasets, "KEYS_PER_PAGE", 2)
    url = f"/projects/{project.pk}/datasets/diff/?from={v1.pk}&to={v2.pk}"
    page = text(lead(alice).get(url))
    assert '<b>3</b><span><a href="#relabeled">relabeled</a>' in page
    # The matrix: positive -> negative 3, the darkest cell.
    assert re.search(
        r'<th scope="row">positive</th> <td class="num cell is-dark" '
        r'style="--shade: 1.0">3</td>',
        page,
    )
    assert ">late-0</td>" in page and ">late-1</td>" in page and ">late-2</td>" not in page
    assert "after_added=late-1#added" in page
    second = text(lead(alice).get(f"{url}&after_added=late-1"))
    assert ">late-2</td>" in second and "First page" in second


def test_a_failed_build_is_retried_from_its_page(
    labeled, alice, django_capture_on_commit_callbacks
):
    failed = DatasetVersion.objects.create(
        project=labeled, spec=(built := build(labeled, alice)).spec, spec_hash=built.spec_hash,
        status=JobStatus.FAILED, message="The build stopped on an unexpected error (OSError).",
        created_by=alice,
    )  # fmt: skip
    client = lead(alice)
    page = text(client.get(f"/projects/{labeled.pk}/datasets/{failed.pk}/"))
    assert "Retry build" in page and "OSError" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/projects/{labeled.pk}/datasets/{failed.pk}/retry/")
    assert response["Location"] == f"/projects/{labeled.pk}/datasets/{failed.pk}/"
    failed.refresh_from_db()
    assert failed.status == JobStatus.SUCCEEDED and failed.outcome == "unchanged"
    after = text(client.get(response["Location"]))
    assert "queued again" in after and "Retry build" not in after
    assert "The labels had not changed since" in after

    refused = text(client.post(f"/projects/{labeled.pk}/datasets/{failed.pk}/retry/", follow=True))
    assert "only a failed" in refused


def test_the_status_json_follows_a_build(labeled, alice):
    version = build(labeled, alice)
    state = lead(alice).get(f"/projects/{labeled.pk}/datasets/{version.pk}/status.json").json()
    assert state["status"] == "succeeded" and state["finished"] and state["percent"] == 100
