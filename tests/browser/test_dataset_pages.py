"""A lead's dataset versions in a real Chromium, built by a real worker: alice opens the Datasets
tab, is refused a spec whose ratios do not add up, builds v1 from the form with the keyboard,
watches it finish on its page, copies a file's sha256, resolves the raters' conflicts, builds
v2, reads its validation against v1, and opens the diff. Every page is screenshotted under
var/screenshots/datasets-*.png.

alice leads the project (two raters per item); bob and carol disagree on every third item.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from exports.models import DatasetVersion
from labeling.services import annotation_submit
from projects.models import Item
from tests.conftest import browser_login, screenshot
from tests.exports.conftest import label_all, resolve_conflicts
from tests.factories import make_items

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def disagree_on_every_third(item: Any, rater: Any) -> str:
    number = int(item.key.rsplit("-", 1)[1])
    return "negative" if number % 3 == 0 and rater.username == "carol" else "positive"


def test_a_lead_builds_two_versions_and_compares_them(
    page: Any, live_server: Any, celery_worker_to_kill: Any, project: Any, alice: Any, bob: Any,
    carol: Any, tmp_path: Path, settings: Any,
) -> None:  # fmt: skip
    from config.celery import app

    # The worker and the live server share this test's storage and build directory.
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ACCORD_DATASET_BUILD_DIR = tmp_path / "builds"
    celery_worker_to_kill.start(
        ACCORD_TEST_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        ACCORD_DATASET_BUILD_DIR=str(settings.ACCORD_DATASET_BUILD_DIR),
    )
    assert app.conf.task_always_eager is False, "no build may run inside the request"
    make_items(project, 30, prefix="review")
    label_all(project, [bob, carol], disagree_on_every_third)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    browser_login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Datasets").click()
    expect(page.get_by_text("No dataset version yet.")).to_be_visible()
    expect(page.get_by_label("Split name 1")).to_have_value("train")
    screenshot(page, "datasets-01-empty")

    # --- refused: the ratios add up to 1.1; the message beside the splits, the rows kept ----------
    page.get_by_label("Split ratio 3").fill("0.2")
    page.locator("#id_name").fill("first cut")
    page.locator("#id_name").press("Enter")
    expect(page.get_by_text("add up to 1.1")).to_be_visible()
    expect(page.get_by_label("Split ratio 3")).to_have_value("0.2")
    assert not DatasetVersion.objects.exists()
    screenshot(page, "datasets-02-refused")

    # --- v1, from the keyboard; the page follows the build to its end -------------------------
    page.get_by_label("Split ratio 3").fill("0.1")
    page.locator("#id_name").press("Enter")
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded", timeout=90_000)
    v1 = DatasetVersion.objects.get(project=project)
    assert page.url.endswith(f"/datasets/{v1.pk}/")
    expect(page.get_by_role("heading", name=re.compile(r"^v1"))).to_be_visible()
    # 30 items, the 10 in conflict left out.
    assert v1.row_count == 20
    parquet = v1.files.get(name="data.parquet")
    row = page.get_by_role("row", name=re.compile("data.parquet"))
    row.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == parquet.sha256
    page.get_by_text("Show the manifest").click()
    expect(page.get_by_text('"format": "accord.dataset-version/1"')).to_be_visible()
    screenshot(page, "datasets-03-v1")

    # --- v2 after the conflicts are resolved ----------------------------------------------------
    assert resolve_conflicts(project, alice, lambda item: "neutral") == 10
    # And both raters change their minds on two items they had agreed on.
    for item in Item.objects.filter(project=project, key__in=["review-1", "review-2"]):
        for rater in (bob, carol):
            annotation_submit(
                project=project, item_id=item.pk, rater=rater, value="negative",
                client_id=uuid.uuid4(),
            )  # fmt: skip
    page.get_by_role("link", name="← All versions").click()
    page.locator("#id_name").fill("conflicts resolved")
    page.get_by_label("Note").fill("The ten conflicts, resolved as neutral by alice.")
    page.get_by_role("button", name="Build version").click()
    expect(page.locator("[data-job-badge]")).to_have_text("Succeeded", timeout=90_000)
    v2 = DatasetVersion.objects.get(project=project, number=2)
    expect(page.get_by_role("heading", name="Validation against v1")).to_be_visible()
    warnings = page.locator(".warnings")
    expect(warnings.get_by_text("Labels new since the parent: negative, neutral.")).to_be_visible()
    expect(page.locator(".labels-table")).to_contain_text("neutral")
    screenshot(page, "datasets-04-v2")

    page.get_by_role("link", name="← All versions").click()
    rows = page.locator(".versions-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("conflicts resolved")
    expect(rows.nth(0)).to_contain_text("30")
    expect(rows.nth(1)).to_contain_text("first cut")
    screenshot(page, "datasets-05-list")

    # --- the diff: parent -> this by default ------------------------------------------------------
    page.get_by_role("link", name="Compare versions").click()
    expect(page.get_by_label("From")).to_have_value(str(v1.pk))
    expect(page.get_by_label("To")).to_have_value(str(v2.pk))
    added = page.locator("#added")
    expect(added.get_by_role("cell", name="review-0", exact=True)).to_be_visible()
    matrix = page.locator(".matrix-table")
    expect(matrix.get_by_role("row", name=re.compile("^positive"))).to_contain_text("2")
    relabeled = page.locator("#relabeled")
    expect(relabeled.get_by_role("cell", name="review-1", exact=True)).to_be_visible()
    screenshot(page, "datasets-06-diff")

    # The other way round, chosen in the form.
    page.get_by_label("From").select_option(str(v2.pk))
    page.get_by_label("To").select_option(str(v1.pk))
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#removed .count")).to_have_text("10")
    screenshot(page, "datasets-07-diff-back")
